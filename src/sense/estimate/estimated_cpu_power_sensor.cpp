#include "sense/estimate/estimated_cpu_power_sensor.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sense/estimate/cpu_tdp_table.hpp"

namespace joulepilot::sense {

EstimatedCpuPowerSensor::EstimatedCpuPowerSensor(const core::RootedFs& fs, const core::Clock& clock,
                                                 EstimatedCpuPowerOptions options)
    : m_fs(fs), m_clock(clock), m_options(std::move(options)) {}

std::vector<SignalInfo> EstimatedCpuPowerSensor::discover() {
    m_unavailable.clear();
    m_full.reset();
    m_idle.reset();
    m_basis.clear();
    m_previous.reset();
    m_energy = core::Joules(0);
    const std::string what = "estimated CPU power";
    const std::string fix =
        "set the node's full-load CPU power in the configuration file: [estimate] tdp_watts = ... (the sum "
        "of the sockets' TDP; docs/config.md)";

    if (m_options.full_power) {
        m_full = *m_options.full_power;
        m_basis = "config";  // [estimate] tdp_watts
    } else {
        auto info = read_cpuinfo(m_fs, m_options.proc_dir + "/cpuinfo");
        if (!info) {
            m_unavailable.push_back({what, info.error().message, fix});
            return {};
        }
        const auto entry = lookup_cpu_tdp(info->model_name);
        if (!entry) {
            m_unavailable.push_back(
                {what, fmt::format("CPU model \"{}\" is not in the TDP table", info->model_name), fix});
            return {};
        }
        const double share = info->cores_per_socket > 0
                                 ? std::min(1.0, static_cast<double>(info->cores_per_socket) / entry->cores)
                                 : 1.0;
        m_full = core::Watts(entry->tdp_watts * info->sockets * share);
        m_basis = fmt::format("table: {}, {} W x {} socket(s) x {:.0f}% of cores", entry->model,
                              entry->tdp_watts, info->sockets, share * 100.0);
    }
    m_idle = m_options.idle_power ? *m_options.idle_power
                                  : *m_full * std::clamp(m_options.idle_fraction, 0.0, 1.0);
    if (*m_idle > *m_full) m_idle = m_full;

    auto times = read_cpu_times(m_fs, m_options.proc_dir);
    if (!times) {
        m_unavailable.push_back({what, times.error().message, "mount procfs at /proc"});
        m_full.reset();
        m_idle.reset();
        return {};
    }
    m_previous = *times;
    m_previous_time = m_clock.now();
    const std::string model = fmt::format("idle {:.0f} W + utilisation x ({:.0f} W - idle); {}",
                                          m_idle->value(), m_full->value(), m_basis);
    return {
        {"cpu.estimated_power_watts", "W", Provenance::estimated,
         "MODELLED CPU power, not measured: " + model},
        {"cpu.estimated_energy_joules_total", "J", Provenance::estimated,
         "MODELLED CPU energy since discovery, not measured: " + model},
    };
}

core::Result<void> EstimatedCpuPowerSensor::read(std::span<Sample> samples) {
    for (Sample& s : samples) s = Sample{};
    if (!m_full || !m_previous) return {};
    auto times = read_cpu_times(m_fs, m_options.proc_dir);
    if (!times) return core::fail("estimate: " + times.error().message);
    const core::Seconds now = m_clock.now();
    const auto utilization = cpu_utilization(*m_previous, *times);
    const core::Seconds dt = now - m_previous_time;
    m_previous = *times;
    m_previous_time = now;
    if (!utilization) {
        if (samples.size() > 1) samples[1] = Sample{m_energy.value(), true};
        return {};
    }
    const core::Watts power = *m_idle + (*m_full - *m_idle) * *utilization;
    if (dt > core::Seconds(0)) m_energy += power * dt;
    if (!samples.empty()) samples[0] = Sample{power.value(), true};
    if (samples.size() > 1) samples[1] = Sample{m_energy.value(), true};
    return {};
}

}  // namespace joulepilot::sense
