#include "decide/idle_parking.hpp"

#include <algorithm>

namespace joulepilot::decide {

Decision IdleParking::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                             const Constraints& constraints) {
    Decision decision = m_main->decide(state, knobs, constraints);
    const Decision idle = m_idle.decide(state, knobs, constraints);  // always: its idle counters stay current
    if (decision.hold_capacity) return decision;
    int parked = 0;
    for (const act::KnobSetting& s : idle.settings) {
        if (!s.knob.ends_with(".active") || s.value >= 0.5) continue;
        auto same = std::find_if(decision.settings.begin(), decision.settings.end(),
                                 [&](const act::KnobSetting& d) { return d.knob == s.knob; });
        if (same != decision.settings.end()) {
            same->value = 0;
        } else {
            decision.settings.push_back(s);
        }
        ++parked;
    }
    if (parked > 0) decision.rationale += "; idle-fsm parks " + std::to_string(parked) + " idle replica(s)";
    return decision;
}

}  // namespace joulepilot::decide
