#pragma once
// SysfsActuator: what the sysfs actuators (RaplPowerLimitActuator, CpufreqActuator) share. Their knobs live
// in a SysfsKnobSet, which does save/apply/restore (its rules apply); the subclass only finds the knobs,
// once, on the first discover() call, and says what it could not offer. The destructor puts back what is
// still changed (normally restore() ran already and it writes nothing).
//
// Not thread-safe: owned by the loop thread (through the SafetyShield). The RootedFs must outlive it.

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "act/actuator.hpp"
#include "act/sysfs/sysfs_knob_set.hpp"
#include "core/rooted_fs.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::act {

class SysfsActuator : public Actuator {
public:
    ~SysfsActuator() override { m_knobs.restore_on_exit(); }
    SysfsActuator(const SysfsActuator&) = delete;
    SysfsActuator& operator=(const SysfsActuator&) = delete;

    // Finds the knobs on the first call; later calls return the same knobs with current values.
    std::vector<Knob> discover() final {
        if (!m_discovered) {
            m_discovered = true;
            find_knobs();
        }
        return m_knobs.knobs();
    }
    [[nodiscard]] std::vector<double> current() const final { return m_knobs.current(); }
    core::Result<void> save() final { return m_knobs.save(); }
    core::Result<void> apply(std::span<const KnobSetting> settings) final { return m_knobs.apply(settings); }
    core::Result<void> restore() final { return m_knobs.restore(); }
    void forget_changes() final { m_knobs.forget(); }

    [[nodiscard]] const std::vector<sense::Unavailable>& unavailable() const { return m_unavailable; }
    // Knobs changed and not yet restored, least recently changed first.
    [[nodiscard]] std::vector<std::string> changed() const { return m_knobs.changed(); }

protected:
    // `actuator`: the name in error messages ("rapl", "cpufreq").
    SysfsActuator(const core::RootedFs& fs, std::string actuator) : m_fs(fs), m_knobs(fs, std::move(actuator)) {}

    // Reads the tree and add()s each knob found; what it cannot offer goes to unavailable(). Called once.
    virtual void find_knobs() = 0;

    [[nodiscard]] const core::RootedFs& fs() const { return m_fs; }
    void add(SysfsKnob knob) { m_knobs.add(std::move(knob)); }
    void report_unavailable(sense::Unavailable what) { m_unavailable.push_back(std::move(what)); }
    [[nodiscard]] bool nothing_reported() const { return m_unavailable.empty(); }

private:
    const core::RootedFs& m_fs;
    SysfsKnobSet m_knobs;
    std::vector<sense::Unavailable> m_unavailable;
    bool m_discovered = false;
};

}  // namespace joulepilot::act
