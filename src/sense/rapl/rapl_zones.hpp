#pragma once
// Discovery of RAPL energy zones in powercap sysfs (/sys/class/powercap), Intel and AMD alike (the AMD
// driver reuses the `intel-rapl` names). A zone is identified by its `name` file, never by its index:
// intel-rapl:1 is package-1 on a server and psys on a laptop.
//
//   package-N            the socket (cores + uncore + caches; NOT DRAM)      -> cpu.N.package_*
//   package-N-die-M      one die of a multi-die package                      -> cpu.N_dieM.package_*
//   core, uncore, dram   subzones (intel-rapl:N:K) of the package above them -> cpu.N.core_* ...
//   psys                 platform: covers package, DRAM and more             -> node.psys_*
//
// Zones that would count the same joules twice are left out and listed in `skipped` with the reason:
//   - the same domain seen through another control type (`intel-rapl-mmio:0` "package-0" mirrors
//     `intel-rapl:0`): the MSR interface `intel-rapl` wins, others are used only when it is absent;
//   - per-die package zones that mirror one socket-wide counter (AMD Threadripper/EPYC expose
//     package-0-die-0 and package-0-die-1 reading the same counter): on AMD (vendor_id in /proc/cpuinfo)
//     every die after the first is a mirror; elsewhere a die whose counter reads within
//     `mirror_tolerance_uj` of another die of its package at discovery is one. Their subzones go too.
// Overlapping domains are never summed here: each is its own signal (see RaplSensor for which sum).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/rooted_fs.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

enum class RaplDomain : std::uint8_t { package, core, uncore, dram, psys };
// "package", "core", "uncore", "dram", "psys"
std::string_view to_string(RaplDomain domain);

struct RaplZone {
    std::string id;            // directory name: "intel-rapl:0:1"
    std::string control_type;  // "intel-rapl", "intel-rapl-mmio", ...
    std::string path;          // directory relative to the fs root: "sys/class/powercap/intel-rapl:0:1"
    std::string name;          // the `name` file: "package-0", "core", "psys"
    RaplDomain domain = RaplDomain::package;
    int package = -1;           // socket number from the package zone's name; -1 for psys
    int die = -1;               // die number for "package-N-die-M" zones; -1 otherwise
    std::string package_label;  // "0", or "0_die1" when a package has several distinct dies; "" for psys
    std::optional<std::uint64_t> max_energy_range_uj;  // nullopt: missing or garbage (no wrap possible)

    // "cpu.0.package_" / "cpu.1.dram_" / "node.psys_": prefix of this zone's signal names.
    [[nodiscard]] std::string signal_prefix() const;
};

struct SkippedZone {
    std::string id;      // "intel-rapl-mmio:0"
    std::string reason;  // "duplicate of intel-rapl:0 (package-0 through intel-rapl-mmio)"
};

struct RaplTopology {
    bool powercap_present = false;  // the powercap directory exists at all
    std::vector<RaplZone> zones;  // to read: sorted by package, die, then package/core/uncore/dram; psys last
    std::vector<SkippedZone> skipped;  // duplicates, mirrors, unknown names, unplaceable subzones
    // Non-fatal findings, e.g. a missing max_energy_range_uj (the zone is read, but cannot wrap).
    std::vector<Unavailable> unavailable;
};

struct RaplDiscoveryOptions {
    std::string powercap_dir = "sys/class/powercap";
    std::string cpuinfo_path = "proc/cpuinfo";
    // Two die zones of one package whose energy_uj differ by at most this at discovery are one counter
    // read twice. The reads are microseconds apart, so a mirror differs by at most a few updates (~1 ms of
    // energy each); independent counters that have run since boot essentially never agree this closely.
    std::uint64_t mirror_tolerance_uj = 1'000'000;
};

// Walks the powercap tree (flat `intel-rapl:0:0` entries as in /sys/class/powercap, and zones nested in
// their parent's directory as in /sys/devices/virtual/powercap) and returns the zones to read. Reads only
// `name` and `max_energy_range_uj` files, plus energy_uj of multi-die packages to find mirrors.
RaplTopology discover_rapl_zones(const core::RootedFs& fs, const RaplDiscoveryOptions& options = {});

}  // namespace joulepilot::sense
