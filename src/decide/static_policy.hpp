#pragma once
// `static`: the baseline. Holds the default configuration (every replica on, max clocks, power limit
// at default, default batch cap, bf16): on its first decision it sets every knob to its default, then
// asks for nothing.

#include "decide/policy.hpp"

namespace joulepilot::decide {

class StaticPolicy final : public Policy {
public:
    [[nodiscard]] std::string_view name() const override { return "static"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;
};

}  // namespace joulepilot::decide
