#include "decide/harmful_clocks_policy.hpp"

#include "act/shield/knob_rules.hpp"
#include "decide/knob_queries.hpp"

namespace joulepilot::decide {

HarmfulClocksConfig HarmfulClocksConfig::from(const core::ConfigSection& section) {
    HarmfulClocksConfig c;
    c.start = core::Seconds(section.number("start_s", c.start.value(), 0, 1e9));
    c.knobs = section.string("knobs", c.knobs);
    return c;
}

Decision HarmfulClocksPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                                     const Constraints& /*constraints*/) {
    Decision decision;
    if (state.now < m_config.start) return decision;
    for (const act::Knob& knob : knobs.knobs()) {
        if (!act::glob_match(m_config.knobs, knob.name)) continue;
        const double lowest = lowest_value(knob.domain);
        if (knob.current != lowest) decision.settings.push_back({knob.name, lowest});
    }
    if (!decision.settings.empty()) {
        decision.rationale = "deliberately harmful (a test of the shield): lowest value of " + m_config.knobs;
    }
    return decision;
}

}  // namespace joulepilot::decide
