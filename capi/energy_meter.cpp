#include "energy_meter.hpp"

#include <utility>

#include <fmt/format.h>

namespace joulepilot::capi {

EnergyMeter::EnergyMeter(std::vector<std::unique_ptr<sense::Sensor>> sensors, const core::Clock& clock)
    : m_clock(clock) {
    for (auto& sensor : sensors) {
        SensorSlot slot;
        const std::vector<sense::SignalInfo> signals = sensor->discover();
        slot.samples.resize(signals.size());
        for (std::size_t i = 0; i < signals.size(); ++i) {
            if (auto domain = energy_domain_name(signals[i])) {
                slot.counters.emplace_back(i, m_domains.size());
                m_domains.push_back(EnergyDomain{std::move(*domain), signals[i].name, signals[i].provenance});
            }
        }
        slot.sensor = std::move(sensor);
        m_sensors.push_back(std::move(slot));
    }
}

EnergyMeter::~EnergyMeter() = default;

std::vector<sense::Unavailable> EnergyMeter::unavailable() const {
    std::lock_guard lock(m_mutex);
    std::vector<sense::Unavailable> out;
    for (const SensorSlot& slot : m_sensors) {
        for (sense::Unavailable& entry : slot.sensor->unavailable()) out.push_back(std::move(entry));
    }
    out.insert(out.end(), m_extra_unavailable.begin(), m_extra_unavailable.end());
    return out;
}

void EnergyMeter::add_unavailable(sense::Unavailable entry) {
    std::lock_guard lock(m_mutex);
    m_extra_unavailable.push_back(std::move(entry));
}

EnergyMeter::Snapshot EnergyMeter::snapshot() {
    Snapshot snap;
    snap.joules.resize(m_domains.size());
    for (SensorSlot& slot : m_sensors) {
        if (slot.counters.empty()) continue;  // nothing of it is metered: do not pay for its read
        // A failed read leaves every sample missing, which is what the windows should see.
        static_cast<void>(slot.sensor->read(slot.samples));
        for (const auto& [sample, domain] : slot.counters) {
            if (slot.samples[sample].valid) snap.joules[domain] = slot.samples[sample].value;
        }
    }
    // The time is taken after the reads so a window never looks shorter than the energy it holds.
    snap.time = m_clock.now();
    return snap;
}

WindowReading EnergyMeter::make_reading(const Window& window, const Snapshot& end) const {
    WindowReading out;
    out.name = window.name;
    out.ended = window.end.has_value();
    out.duration = end.time - window.begin.time;
    out.joules.resize(m_domains.size());
    for (std::size_t d = 0; d < m_domains.size(); ++d) {
        if (window.begin.joules[d] && end.joules[d])
            out.joules[d] = core::Joules(*end.joules[d] - *window.begin.joules[d]);
    }
    return out;
}

namespace {

tl::unexpected<WindowError> window_error(WindowErrorKind kind, std::string message) {
    return tl::unexpected<WindowError>(WindowError{kind, std::move(message)});
}

}  // namespace

WindowResult<WindowId> EnergyMeter::begin(std::string name) {
    std::lock_guard lock(m_mutex);
    if (m_windows.size() >= kMaxWindows) {
        return window_error(
            WindowErrorKind::limit,
            fmt::format("meter: begin '{}': {} windows held; release ended ones", name, kMaxWindows));
    }
    const WindowId id = m_next_id++;
    m_windows.emplace(id, Window{std::move(name), snapshot(), std::nullopt});
    return id;
}

WindowResult<void> EnergyMeter::end(WindowId window) {
    std::lock_guard lock(m_mutex);
    const auto it = m_windows.find(window);
    if (it == m_windows.end()) {
        return window_error(WindowErrorKind::not_found, fmt::format("meter: end: no window {}", window));
    }
    if (it->second.end) {
        return window_error(
            WindowErrorKind::already_ended,
            fmt::format("meter: end: window {} ('{}') already ended", window, it->second.name));
    }
    it->second.end = snapshot();
    return {};
}

WindowResult<WindowReading> EnergyMeter::reading(WindowId window) {
    std::lock_guard lock(m_mutex);
    const auto it = m_windows.find(window);
    if (it == m_windows.end()) {
        return window_error(WindowErrorKind::not_found, fmt::format("meter: read: no window {}", window));
    }
    const Window& w = it->second;
    return w.end ? make_reading(w, *w.end) : make_reading(w, snapshot());
}

WindowResult<void> EnergyMeter::release(WindowId window) {
    std::lock_guard lock(m_mutex);
    if (m_windows.erase(window) == 0) {
        return window_error(WindowErrorKind::not_found, fmt::format("meter: release: no window {}", window));
    }
    return {};
}

std::size_t EnergyMeter::windows_held() const {
    std::lock_guard lock(m_mutex);
    return m_windows.size();
}

}  // namespace joulepilot::capi
