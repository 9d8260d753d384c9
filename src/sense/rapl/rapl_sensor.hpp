#pragma once
// RaplSensor: CPU package / core / uncore / DRAM and platform (psys) energy from powercap RAPL counters.
//
// Signals, two per zone read (see rapl_zones.hpp for how zones are found and de-duplicated):
//   cpu.<pkg>.package_energy_joules_total   J  measured  monotonic total since discover(), wraps folded in
//   cpu.<pkg>.package_power_watts           W  derived   mean power since this zone's previous good read
//   cpu.<pkg>.{core,uncore,dram}_energy_joules_total / _power_watts   likewise
//   node.psys_energy_joules_total / node.psys_power_watts             likewise
// <pkg> is the socket number ("0"), or "0_die1" on a package with several distinct dies.
//
// What sums to what (never add overlapping zones):
//   - core and uncore are PART of their package: never add them to it;
//   - dram is NOT part of the package: package + dram of every socket is the CPU+memory total, and is
//     what node_total_signals() lists;
//   - psys covers packages, DRAM and more of the platform: use it alone, never add it to the others.
//
// Faults, all counted in stats() and none fatal:
//   - energy_uj unreadable at discovery (root-only since the 2020 PLATYPUS fix): the zone gets no signal
//     and an Unavailable entry ("permission denied" with the fix), never a 0 W reading;
//   - a read that fails or returns garbage: that tick's samples of the zone are missing; the next good
//     read covers the whole gap (its power is the mean over it), so no energy is dropped;
//   - a wrap: folded in exactly (EnergyCounter);
//   - a step no wrap explains, or larger than max_plausible_power x elapsed time: a counter reset; that
//     tick's samples are missing, the total carries on from the new baseline, stats().resets counts it.
//
// The energy total at discover() time is 0; the first read's power is the mean since discover().
// Not thread-safe: owned by the loop thread. Holds references to `fs` and `clock`, which must outlive it.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/rapl/energy_counter.hpp"
#include "sense/rapl/rapl_zones.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct RaplSensorOptions {
    RaplDiscoveryOptions discovery;
    // Upper bound on any one zone's power; a larger step between two reads is a counter reset, not energy.
    // Generous on purpose (the largest sockets draw ~500 W): it only has to catch nonsense.
    core::Watts max_plausible_power{5000.0};
};

struct RaplStats {
    std::uint64_t reads = 0;        // read() calls
    std::uint64_t read_errors = 0;  // zone reads that failed (missing, permission, garbage)
    std::uint64_t wraps = 0;        // counter wraps folded in
    std::uint64_t resets = 0;       // implausible steps treated as counter resets
};

class RaplSensor final : public Sensor {
public:
    RaplSensor(const core::RootedFs& fs, const core::Clock& clock, RaplSensorOptions options = {});

    [[nodiscard]] std::string name() const override { return "rapl"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    // After discover(): the zones read, in signal order (energy then power for each).
    [[nodiscard]] const std::vector<RaplZone>& zones() const { return m_zones; }
    // Zones left out as duplicates, mirrors or unknown, with why (for `joulepilot sensors`).
    [[nodiscard]] const std::vector<SkippedZone>& skipped() const { return m_skipped; }
    // Energy signals that add up to the CPU+DRAM energy of the node without overlap: every package and
    // every dram zone. Empty when no package is readable. psys is deliberately not in it.
    [[nodiscard]] std::vector<std::string> node_total_signals() const;
    [[nodiscard]] const RaplStats& stats() const { return m_stats; }

private:
    struct Reader {
        std::string energy_path;  // relative path of energy_uj
        EnergyCounter counter;
        core::Seconds last_good{0};  // time of the last read that advanced the counter or set its baseline
    };

    const core::RootedFs& m_fs;
    const core::Clock& m_clock;
    RaplSensorOptions m_options;
    std::vector<RaplZone> m_zones;
    std::vector<Reader> m_readers;  // parallel to m_zones
    std::vector<SkippedZone> m_skipped;
    std::vector<Unavailable> m_unavailable;
    RaplStats m_stats;
};

}  // namespace joulepilot::sense
