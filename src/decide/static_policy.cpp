#include "decide/static_policy.hpp"

namespace joulepilot::decide {

Decision StaticPolicy::decide(const learn::ModelState& /*state*/, const act::KnobSpace& knobs,
                              const Constraints& /*constraints*/) {
    Decision decision;
    for (const act::Knob& knob : knobs.knobs()) {
        if (knob.current != knob.default_value) decision.settings.push_back({knob.name, knob.default_value});
    }
    decision.rationale = decision.settings.empty() ? "static: every knob at its default"
                                                   : "static: return knobs to their defaults";
    return decision;
}

}  // namespace joulepilot::decide
