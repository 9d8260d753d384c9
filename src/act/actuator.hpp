#pragma once
// An Actuator owns some knobs of the world: it discovers them, saves their original values before the
// first write, applies batches of settings, and restores what it saved. Only the SafetyShield calls
// apply/restore. Owned and called by the loop thread only.

#include <span>
#include <string>
#include <vector>

#include "act/knob.hpp"
#include "core/result.hpp"

namespace joulepilot::act {

class Actuator {
public:
    virtual ~Actuator() = default;
    [[nodiscard]] virtual std::string name() const = 0;
    // The knobs this actuator controls, with their domains, defaults and current values.
    virtual std::vector<Knob> discover() = 0;
    // Current values of the discovered knobs, in discover() order.
    [[nodiscard]] virtual std::vector<double> current() const = 0;
    // Remembers the current values so restore() can put them back.
    virtual core::Result<void> save() = 0;
    // Writes the settings (all knobs named are this actuator's, values already inside their domains).
    virtual core::Result<void> apply(std::span<const KnobSetting> settings) = 0;
    virtual core::Result<void> restore() = 0;
    // The current values become the baseline: nothing is left for restore() (or a destructor) to put back,
    // and a knob whose default is the value found at start (replicas, batch cap, RAPL limit) takes the
    // current value as its default. The shield calls it after crash recovery wrote the originals from its
    // state file, so the values the crashed run left are never "restored" again nor taken for defaults;
    // then it reads the knobs' defaults and domains again with discover().
    virtual void forget_changes() {}
};

}  // namespace joulepilot::act
