#pragma once
// RaplPowerLimitActuator: CPU package (and platform) power limits through powercap sysfs
// (/sys/class/powercap/intel-rapl*), uW at the edge. Zones come from the RAPL sensor's discovery
// (sense::discover_rapl_zones: by `name`, never by index; MMIO duplicates and mirrored dies left out), so
// each limit is written through one interface only.
//
// Knobs, per zone of a configured domain (package and psys by default) and per configured constraint
// (`constraint_<n>_name`; long_term by default):
//   cpu.<N>.package_power_limit_watts              W  package N, long_term constraint
//   cpu.<N>.package_<constraint>_power_limit_watts W  another constraint (short_term, peak_power)
//   node.psys_power_limit_watts                    W  platform zone (laptops), long_term
// Domain: up to `constraint_<n>_max_power_uw` (when missing or 0: the limit found at discovery, so
// joulepilot can lower a limit but never raise it past what the machine had), down to the largest of
// `constraint_<n>_min_power_uw`, the configured floor and `min_fraction_of_max` of the max; intersected
// with the configured ceiling; in `step` steps. Default: the limit found at discovery. After crash recovery
// the originals put back count as found (Actuator::forget_changes): defaults and found ceilings rise to them.
// Zones whose `enabled` is 0 (the kernel does not enforce their limits) get no knobs.
//
// Writes are read back: a limit the firmware locked (the MSR lock bit) keeps its old value, and that is an
// error rather than a silent success. Save/apply/restore rules: see SysfsKnobSet; discovery on the first
// discover() call, restore on destruction, threads: see SysfsActuator.

#include <optional>
#include <string>
#include <vector>

#include "act/sysfs/sysfs_actuator.hpp"
#include "core/config.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/rapl/rapl_zones.hpp"

namespace joulepilot::act {

struct RaplActuatorOptions {
    std::vector<sense::RaplDomain> domains{sense::RaplDomain::package, sense::RaplDomain::psys};
    std::vector<std::string> constraints{"long_term"};
    core::Watts step{1.0};
    std::optional<core::Watts> min;    // configured floor
    double min_fraction_of_max = 0.5;  // floor as a fraction of the constraint's max (a 50% cap at most)
    std::optional<core::Watts> max;    // configured ceiling
    sense::RaplDiscoveryOptions discovery;
};

// [act.rapl] (docs/config.md): whether the agent makes this actuator, its options, and the least time between
// two changes of one knob, which the SafetyShield enforces. Throws core::ConfigError naming the key.
struct RaplActuatorConfig {
    bool enable = true;
    RaplActuatorOptions options;
    core::Seconds min_interval{10.0};
};
RaplActuatorConfig read_rapl_actuator_config(const core::ConfigSection& section);

class RaplPowerLimitActuator final : public SysfsActuator {
public:
    explicit RaplPowerLimitActuator(const core::RootedFs& fs, RaplActuatorOptions options = {});

    [[nodiscard]] std::string name() const override { return "rapl"; }

private:
    // Walks powercap (once, on the first discover() call).
    void find_knobs() override;
    void discover_zone(const sense::RaplZone& zone);

    RaplActuatorOptions m_options;
};

}  // namespace joulepilot::act
