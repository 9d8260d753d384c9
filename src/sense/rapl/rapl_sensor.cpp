#include "sense/rapl/rapl_sensor.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

namespace joulepilot::sense {
namespace {

constexpr double kMicro = 1e-6;
// Slack on the plausibility bound: counters update about every millisecond, so even a zero-length
// interval may show one update's worth of energy.
constexpr double kUpdateSlackSeconds = 0.01;

std::string describe(const RaplZone& zone) {
    switch (zone.domain) {
        case RaplDomain::package:
            return fmt::format("{} ({}): cores, uncore and caches; excludes DRAM", zone.name, zone.id);
        case RaplDomain::core:
            return fmt::format("cores of package {} ({}): part of the package zone", zone.package, zone.id);
        case RaplDomain::uncore:
            return fmt::format("uncore/graphics of package {} ({}): part of the package zone", zone.package,
                               zone.id);
        case RaplDomain::dram:
            return fmt::format("DRAM of package {} ({}): not part of the package zone", zone.package,
                               zone.id);
        case RaplDomain::psys:
            return fmt::format("platform ({}): covers packages, DRAM and more; never add to them", zone.id);
    }
    return zone.id;
}

Unavailable unreadable(const core::RootedFs& fs, const RaplZone& zone, const core::FileError& error) {
    Unavailable u;
    u.what = fmt::format("{} ({}) energy_uj", zone.id, zone.name);
    switch (error.kind) {
        case core::FileErrorKind::permission_denied:
            u.reason = "permission denied";
            u.fix = fmt::format(
                "run as root, or allow reading: sudo chmod a+r {} (until reboot; a udev rule or "
                "systemd-tmpfiles entry keeps it)",
                fs.full_path(zone.path + "/energy_uj"));
            break;
        case core::FileErrorKind::not_found:
            u.reason = "not present";
            break;
        case core::FileErrorKind::invalid_content:
        case core::FileErrorKind::other:
            u.reason = error.message;
            break;
    }
    return u;
}

}  // namespace

RaplSensor::RaplSensor(const core::RootedFs& fs, const core::Clock& clock, RaplSensorOptions options)
    : m_fs(fs), m_clock(clock), m_options(std::move(options)) {}

std::vector<SignalInfo> RaplSensor::discover() {
    m_zones.clear();
    m_readers.clear();
    m_skipped.clear();
    m_unavailable.clear();
    m_stats = {};

    RaplTopology topology = discover_rapl_zones(m_fs, m_options.discovery);
    m_skipped = std::move(topology.skipped);
    m_unavailable = std::move(topology.unavailable);
    const std::string driver_fix =
        "load the RAPL driver: sudo modprobe intel_rapl_msr (Intel, and AMD since Linux 5.8); virtual "
        "machines and containers rarely expose RAPL";
    if (!topology.powercap_present) {
        m_unavailable.push_back(
            {"RAPL energy counters (" + m_fs.full_path(m_options.discovery.powercap_dir) + ")", "not present",
             driver_fix});
        return {};
    }
    if (topology.zones.empty()) {
        m_unavailable.push_back(
            {"RAPL energy counters (" + m_fs.full_path(m_options.discovery.powercap_dir) + ")",
             "no RAPL zone found", driver_fix});
        return {};
    }

    std::vector<SignalInfo> signals;
    const core::Seconds now = m_clock.now();
    for (RaplZone& zone : topology.zones) {
        Reader reader{zone.path + "/energy_uj", EnergyCounter(zone.max_energy_range_uj), now};
        auto raw = m_fs.read_u64(reader.energy_path);
        if (!raw) {
            m_unavailable.push_back(unreadable(m_fs, zone, raw.error()));
            continue;
        }
        reader.counter.update(*raw);  // the baseline: totals start at 0 now
        const std::string prefix = zone.signal_prefix();
        const std::string what = describe(zone);
        signals.push_back({prefix + "energy_joules_total", "J", Provenance::measured,
                           "energy since discovery, counter wraps folded in; " + what});
        signals.push_back({prefix + "power_watts", "W", Provenance::derived,
                           "mean power since the previous read, from the energy counter; " + what});
        m_readers.push_back(std::move(reader));
        m_zones.push_back(std::move(zone));
    }
    return signals;
}

core::Result<void> RaplSensor::read(std::span<Sample> samples) {
    ++m_stats.reads;
    const core::Seconds now = m_clock.now();
    std::optional<std::string> first_error;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < m_readers.size() && 2 * i + 1 < samples.size(); ++i) {
        Reader& reader = m_readers[i];
        Sample& energy = samples[2 * i];
        Sample& power = samples[2 * i + 1];
        energy = Sample{};
        power = Sample{};
        auto raw = m_fs.read_u64(reader.energy_path);
        if (!raw) {
            ++m_stats.read_errors;
            ++failed;
            if (!first_error) {
                first_error =
                    fmt::format("rapl: read energy_uj ({}): {}", m_zones[i].id, raw.error().message);
            }
            continue;
        }
        const double dt = (now - reader.last_good).value();
        const double bound_j =
            m_options.max_plausible_power.value() * (std::max(dt, 0.0) + kUpdateSlackSeconds);
        const auto bound_uj = static_cast<std::uint64_t>(std::min(bound_j / kMicro, 1.8e19));
        const CounterStep step = reader.counter.update(*raw, bound_uj);
        reader.last_good = now;
        switch (step) {
            case CounterStep::reset:
                ++m_stats.resets;
                break;
            case CounterStep::wrapped:
                ++m_stats.wraps;
                [[fallthrough]];
            case CounterStep::advanced:
                energy = Sample{reader.counter.total().value(), true};
                if (dt > 0) {
                    power = Sample{static_cast<double>(reader.counter.last_delta_uj()) * kMicro / dt, true};
                }
                break;
            case CounterStep::baseline:
                energy = Sample{reader.counter.total().value(), true};
                break;
        }
    }
    if (!m_readers.empty() && failed == m_readers.size()) return core::fail(*first_error);
    return {};
}

std::vector<std::string> RaplSensor::node_total_signals() const {
    std::vector<std::string> out;
    for (const RaplZone& zone : m_zones) {
        if (zone.domain == RaplDomain::package || zone.domain == RaplDomain::dram) {
            out.push_back(zone.signal_prefix() + "energy_joules_total");
        }
    }
    return out;
}

}  // namespace joulepilot::sense
