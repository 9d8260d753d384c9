#include "act/http_knob/http_knob_actuator.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>

namespace joulepilot::act {

bool HttpKnobActuator::is_serving_knob(std::string_view name) {
    constexpr std::string_view kPrefix = "replica.";
    if (!name.starts_with(kPrefix)) return false;
    name.remove_prefix(kPrefix.size());
    std::size_t digits = 0;
    while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits])) != 0) ++digits;
    if (digits == 0 || digits >= name.size() || name[digits] != '.') return false;
    const std::string_view knob = name.substr(digits + 1);
    return knob == "batch_cap" || knob == "precision";
}

core::Result<std::unique_ptr<HttpKnobActuator>> HttpKnobActuator::create(KnobClient client) {
    std::unique_ptr<HttpKnobActuator> actuator(new HttpKnobActuator(std::move(client)));
    auto listed = actuator->m_client.list();
    if (!listed) return tl::unexpected(listed.error());
    for (RemoteKnob& remote : *listed) {
        if (!is_serving_knob(remote.name)) continue;
        Knob knob;
        knob.unit = remote.name.ends_with("batch_cap") ? "sequences" : "code";
        knob.name = std::move(remote.name);
        knob.domain = std::move(remote.domain);
        knob.default_value = remote.value;
        knob.current = remote.value;
        actuator->m_knobs.push_back(std::move(knob));
    }
    if (actuator->m_knobs.empty()) {
        return core::fail(fmt::format("http-knob: {}/v1/knobs lists no replica.<i>.batch_cap or "
                                      "replica.<i>.precision knob (see docs/http_knob.md)",
                                      actuator->m_client.url()));
    }
    return actuator;
}

std::vector<double> HttpKnobActuator::current() const {
    std::vector<double> values;
    values.reserve(m_knobs.size());
    for (const Knob& knob : m_knobs) values.push_back(knob.current);
    return values;
}

core::Result<void> HttpKnobActuator::refresh() {
    auto listed = m_client.list();
    if (!listed) return tl::unexpected(listed.error());
    for (Knob& knob : m_knobs) {
        const auto it = std::find_if(listed->begin(), listed->end(),
                                     [&](const RemoteKnob& r) { return r.name == knob.name; });
        if (it == listed->end())
            return core::fail(fmt::format("http-knob: {}: knob '{}' is gone from the endpoint", m_client.url(),
                                          knob.name));
        knob.current = it->value;
    }
    return {};
}

core::Result<void> HttpKnobActuator::save() {
    if (auto ok = refresh(); !ok) return ok;
    m_saved = current();
    return {};
}

core::Result<void> HttpKnobActuator::apply(std::span<const KnobSetting> settings) {
    std::map<std::string, double> request;
    for (const KnobSetting& setting : settings) {
        const auto it = std::find_if(m_knobs.begin(), m_knobs.end(),
                                     [&](const Knob& k) { return k.name == setting.knob; });
        if (it == m_knobs.end()) return core::fail(fmt::format("http-knob: unknown knob '{}'", setting.knob));
        if (!it->domain.contains(setting.value)) {
            return core::fail(fmt::format("http-knob: {} = {} is outside its domain [{}, {}]", setting.knob,
                                          setting.value, it->domain.min, it->domain.max));
        }
        request[setting.knob] = setting.value;
    }
    if (request.empty()) return {};
    auto applied = m_client.set(request);
    if (!applied) return tl::unexpected(applied.error());
    for (Knob& knob : m_knobs) {
        if (const auto it = applied->find(knob.name); it != applied->end()) knob.current = it->second;
    }
    return {};
}

core::Result<void> HttpKnobActuator::restore() {
    if (m_saved.empty()) return {};
    std::vector<KnobSetting> settings;
    for (std::size_t i = 0; i < m_knobs.size(); ++i) settings.push_back({m_knobs[i].name, m_saved[i]});
    return apply(settings);
}

void HttpKnobActuator::forget_changes() {
    m_saved.clear();
    for (Knob& knob : m_knobs) knob.default_value = knob.current;
}

}  // namespace joulepilot::act
