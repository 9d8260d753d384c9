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
// differed. Not thread-safe: owned by the loop thread (through the SafetyShield). The RootedFs must
// outlive it.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "act/actuator.hpp"
#include "act/sysfs/sysfs_knob_set.hpp"
#include "core/config.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/sensor.hpp"

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

class CpufreqActuator final : public Actuator {
public:
    explicit CpufreqActuator(const core::RootedFs& fs, CpufreqActuatorOptions options = {});
    // Puts back what is still changed (normally restore() ran already and this writes nothing).
    ~CpufreqActuator() override;
    CpufreqActuator(const CpufreqActuator&) = delete;
    CpufreqActuator& operator=(const CpufreqActuator&) = delete;

    [[nodiscard]] std::string name() const override { return "cpufreq"; }
    // Reads the policies on the first call; later calls return the same knobs with current values.
    std::vector<Knob> discover() override;
    [[nodiscard]] std::vector<double> current() const override { return m_knobs.current(); }
    core::Result<void> save() override { return m_knobs.save(); }
    core::Result<void> apply(std::span<const KnobSetting> settings) override {
        return m_knobs.apply(settings);
    }
    core::Result<void> restore() override { return m_knobs.restore(); }
    void forget_changes() override { m_knobs.forget(); }

    [[nodiscard]] const std::vector<sense::Unavailable>& unavailable() const { return m_unavailable; }
    [[nodiscard]] std::vector<std::string> changed() const { return m_knobs.changed(); }

private:
    const core::RootedFs& m_fs;
    CpufreqActuatorOptions m_options;
    bool m_discovered = false;
    SysfsKnobSet m_knobs;
    std::vector<sense::Unavailable> m_unavailable;
};

}  // namespace joulepilot::act
