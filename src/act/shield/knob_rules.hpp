#pragma once
// What the operator allows per knob: the config's [shield.knobs."<pattern>"] tables. A pattern is a knob
// name where '*' stands for any run of characters ("gpu.*.power_limit_watts"); the last matching rule
// wins, so a general rule can be followed by exceptions. Immutable after start-up.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/units.hpp"

namespace joulepilot::act {

struct KnobRule {
    std::string pattern;
    bool allowed = true;
    std::optional<double> min;        // narrower bounds than the knob's own domain, knob units
    std::optional<double> max;
    std::optional<double> step;       // coarser steps than the domain's (e.g. 100 MHz clock steps)
    // Rate limit: at least this long between two writes. Unset: the last earlier matching rule's (so an
    // actuator's default survives a rule that only allows the knob), else none.
    std::optional<core::Seconds> min_interval;
    double deadband = 0;              // hysteresis: moves smaller than this (knob units) are not written
};

bool glob_match(std::string_view pattern, std::string_view name);

class KnobRules {
public:
    void add(KnobRule rule) { m_rules.push_back(std::move(rule)); }
    // The last rule whose pattern matches `knob`, or null.
    [[nodiscard]] const KnobRule* match(std::string_view knob) const;
    // The rate limit for `knob`: from the last matching rule that sets one; zero when none does.
    [[nodiscard]] core::Seconds min_interval(std::string_view knob) const;
    [[nodiscard]] bool empty() const { return m_rules.empty(); }
    [[nodiscard]] const std::vector<KnobRule>& rules() const { return m_rules; }

private:
    std::vector<KnobRule> m_rules;
};

}  // namespace joulepilot::act
