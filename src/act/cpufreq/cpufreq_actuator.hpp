#pragma once
// CpufreqActuator: the highest frequency the kernel may run the CPUs of a package at (cpufreq
// `scaling_max_freq`, kHz at the edge), one knob per package:
//   cpu.<N>.max_freq_hz   Hz   written to scaling_max_freq of every cpufreq policy whose CPUs sit on
//                              package N (topology/physical_package_id of the policy's first CPU)
// One knob per package, not per policy: energy is metered per package, a policy learns one cap for the
// socket instead of one per core (intel_pstate has a policy per CPU: 128 knobs on a 2-socket server), and
// each policy still gets the cap within its own limits (hybrid parts: E-cores top out lower).
//
// Domain: from the package's lowest cpuinfo_min_freq (each policy never below its own cpuinfo_min_freq or
// the scaling_min_freq found at discovery) to its highest cpuinfo_max_freq, intersected with the configured
// bounds; the frequencies of scaling_available_frequencies when every policy of the package lists the same
// ones (acpi-cpufreq), otherwise a range in `step` steps. Default: the highest (not capped). Current: the
// highest scaling_max_freq of the package. Policies come from /sys/devices/system/cpu/cpufreq/policy*
// (kernels since 4.3, where cpuN/cpufreq links to them).
//
// Save/apply/restore rules: see SysfsKnobSet; each policy's own original is restored, even when they
// differed. Discovery on the first discover() call, restore on destruction, threads: see SysfsActuator.

#include <optional>
#include <string>

#include "act/sysfs/sysfs_actuator.hpp"
#include "core/config.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"

namespace joulepilot::act {

struct CpufreqActuatorOptions {
    std::string cpu_dir = "sys/devices/system/cpu";
    core::Hertz step{100e6};         // for drivers without a frequency table
    std::optional<core::Hertz> min;  // configured floor
    std::optional<core::Hertz> max;  // configured ceiling
};

// [act.cpufreq] (docs/config.md): whether the agent makes this actuator, its options, and the least time
// between two changes of one knob, which the SafetyShield enforces. Throws core::ConfigError naming the key.
struct CpufreqActuatorConfig {
    bool enable = true;
    CpufreqActuatorOptions options;
    core::Seconds min_interval{10.0};
};
CpufreqActuatorConfig read_cpufreq_actuator_config(const core::ConfigSection& section);

class CpufreqActuator final : public SysfsActuator {
public:
    explicit CpufreqActuator(const core::RootedFs& fs, CpufreqActuatorOptions options = {});

    [[nodiscard]] std::string name() const override { return "cpufreq"; }

private:
    void find_knobs() override;

    CpufreqActuatorOptions m_options;
};

}  // namespace joulepilot::act
