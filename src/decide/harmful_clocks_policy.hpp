#pragma once
// `harmful-clocks`: a deliberately bad policy that exists to show the safety shield working. From
// `start_s` on, at every decision it asks for the lowest value of every knob matching `knobs` (default:
// every GPU's SM clock cap), whatever the load. The
// shield canaries the change on one GPU, the SLO guard rolls it back when the service suffers, and the
// back-off (doubling on each repeat) keeps it from trying again soon. Never use it on a real node; the
// twin, tests and `make bench` use it to measure how much harm gets through before the rollback.

#include <string>

#include "core/config.hpp"
#include "decide/policy.hpp"

namespace joulepilot::decide {

struct HarmfulClocksConfig {
    core::Seconds start{0};  // simulated (or wall) seconds since the loop's epoch
    std::string knobs = "gpu.*.sm_clock_cap_hz";  // a knob-name pattern ('*' matches any run of characters)
    static HarmfulClocksConfig from(const core::ConfigSection& section);
};

class HarmfulClocksPolicy final : public Policy {
public:
    explicit HarmfulClocksPolicy(HarmfulClocksConfig config) : m_config(config) {}
    [[nodiscard]] std::string_view name() const override { return "harmful-clocks"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

private:
    HarmfulClocksConfig m_config;
};

}  // namespace joulepilot::decide
