#include "act/http_knob/knob_client.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::act {
namespace {

using nlohmann::json;

std::string error_text(const std::string& body) {
    const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) return doc["error"].get<std::string>();
    return body.size() > 160 ? body.substr(0, 160) + "..." : body;
}

std::optional<double> number(const json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number()) return std::nullopt;
    const double value = it->get<double>();
    return std::isfinite(value) ? std::optional<double>(value) : std::nullopt;
}

}  // namespace

core::Result<std::vector<RemoteKnob>> parse_knob_list(const json& body, const std::string& where) {
    const auto knobs = body.is_object() ? body.find("knobs") : body.end();
    if (!body.is_object() || knobs == body.end() || !knobs->is_array())
        return core::fail(fmt::format("{}: the answer has no \"knobs\" list (see docs/http_knob.md)", where));
    std::vector<RemoteKnob> out;
    for (std::size_t i = 0; i < knobs->size(); ++i) {
        const json& k = (*knobs)[i];
        const std::string at = fmt::format("{}: knobs[{}]", where, i);
        if (!k.is_object() || !k.contains("name") || !k["name"].is_string() || k["name"].get<std::string>().empty())
            return core::fail(at + ": no \"name\"");
        RemoteKnob knob;
        knob.name = k["name"].get<std::string>();
        const std::string named = fmt::format("{} ('{}')", at, knob.name);
        const auto value = number(k, "value");
        if (!value) return core::fail(named + ": \"value\" is not a finite number");
        knob.value = *value;
        if (const auto values = k.find("values"); values != k.end()) {
            if (!values->is_array() || values->empty())
                return core::fail(named + ": \"values\" is not a non-empty list of numbers");
            for (const json& v : *values) {
                if (!v.is_number()) return core::fail(named + ": \"values\" holds something that is not a number");
                knob.domain.values.push_back(v.get<double>());
            }
            knob.domain.min = *std::min_element(knob.domain.values.begin(), knob.domain.values.end());
            knob.domain.max = *std::max_element(knob.domain.values.begin(), knob.domain.values.end());
        } else {
            const auto min = number(k, "min");
            const auto max = number(k, "max");
            if (!min || !max || *min > *max)
                return core::fail(named + ": give \"min\" <= \"max\" (numbers) or a \"values\" list");
            knob.domain.min = *min;
            knob.domain.max = *max;
            if (const auto step = number(k, "step")) {
                if (*step < 0) return core::fail(named + ": \"step\" is negative");
                knob.domain.step = *step;
            }
        }
        if (!knob.domain.contains(knob.value))
            return core::fail(fmt::format("{}: value {} is outside its own domain", named, knob.value));
        out.push_back(std::move(knob));
    }
    return out;
}

core::Result<KnobClient> KnobClient::create(KnobClientOptions options) {
    HttpTransportOptions transport;
    transport.base_url = options.url;
    transport.bearer_token_file = options.bearer_token_file;
    transport.ca_pem = options.ca_pem;
    transport.connect_timeout = options.connect_timeout;
    transport.timeout = options.timeout;
    transport.what = "knobs";
    auto made = HttpTransport::create(std::move(transport), /*allow_plain_http=*/true);
    if (!made) return tl::unexpected(made.error());
    return KnobClient(std::move(*made));
}

core::Result<std::vector<RemoteKnob>> KnobClient::list() {
    const std::string where = fmt::format("knobs: GET {}/v1/knobs", url());
    auto response = m_transport.request("GET", "/v1/knobs");
    if (!response) return core::fail(response.error().message);
    if (response->status == 401 || response->status == 403) {
        return core::fail(fmt::format("{}: HTTP {}: the endpoint refused our token (check the knob endpoint's "
                                      "bearer_token_file)",
                                      where, response->status));
    }
    if (response->status == 404)
        return core::fail(where + ": not found (404): the model server has no knob endpoint (docs/http_knob.md)");
    if (response->status != 200)
        return core::fail(fmt::format("{}: HTTP {}: {}", where, response->status, error_text(response->body)));
    const json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return core::fail(where + ": the answer is not JSON");
    return parse_knob_list(body, where);
}

core::Result<std::map<std::string, double>> KnobClient::set(const std::map<std::string, double>& values) {
    json request = json::object();
    for (const auto& [name, value] : values) request[name] = value;
    const std::string where = fmt::format("knobs: PUT {}/v1/knobs {}", url(), request.dump());
    auto response = m_transport.request("PUT", "/v1/knobs", request.dump(), "application/json");
    if (!response) return core::fail(response.error().message);
    if (response->status == 400 || response->status == 422) {
        return core::fail(fmt::format("{}: refused ({}), nothing applied: {}", where, response->status,
                                      error_text(response->body)));
    }
    if (response->status == 401 || response->status == 403)
        return core::fail(fmt::format("{}: HTTP {}: the endpoint refused our token", where, response->status));
    if (response->status != 200)
        return core::fail(fmt::format("{}: HTTP {}: {}", where, response->status, error_text(response->body)));
    const json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("applied") || !body["applied"].is_object())
        return core::fail(where + ": the answer has no \"applied\" object (see docs/http_knob.md)");
    std::map<std::string, double> applied;
    for (const auto& [name, value] : body["applied"].items()) {
        if (!value.is_number()) return core::fail(fmt::format("{}: applied '{}' is not a number", where, name));
        applied[name] = value.get<double>();
    }
    for (const auto& [name, value] : values) {
        if (!applied.contains(name))
            return core::fail(fmt::format("{}: the server did not say it applied '{}'", where, name));
    }
    return applied;
}

}  // namespace joulepilot::act
