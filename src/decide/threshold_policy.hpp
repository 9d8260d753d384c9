#pragma once
// `threshold`: the classic utilisation rule, one GPU at a time. When a GPU's mean utilisation over the
// last `samples` observations is below `low`, step its SM clock cap (or power limit) down by one step,
// never below a floor; when it is above `high`, raise it (to the knob's maximum by default). It is the
// rule operators already know, and the baseline the model-based policies have to beat.
//
// A step down needs `samples` fresh observations, all valid, taken after this policy last changed that
// GPU's knob: the rule judges each setting on what it saw under that setting, and a missing sample
// never counts as "low". Raising acts on the valid samples it has, because it is the safe direction.
// Owned and called by the loop thread.

#include <cstddef>
#include <map>

#include "core/config.hpp"
#include "decide/policy.hpp"

namespace joulepilot::decide {

struct ThresholdConfig {
    enum class Knob { clock, power };
    enum class Raise { to_max, one_step };

    Knob knob = Knob::clock;
    std::size_t samples = 10;    // N: observations (sense intervals) the mean is taken over
    double low = 0.3;            // utilisation ratio below which the GPU steps down
    double high = 0.8;           // utilisation ratio above which it steps up
    double step_mhz = 150;       // clock: ten 15 MHz grid steps of an H100
    double min_clock_mhz = 990;  // clock floor: half of the H100's 1980 MHz boost clock, on its 15 MHz grid
    double step_watts = 50;
    double min_power_watts = 300;
    Raise raise = Raise::to_max;

    // Reads [policy.threshold]. Throws core::ConfigError on a bad type, a value out of range or
    // low >= high; unknown keys are left for ConfigDocument::reject_unknown_keys().
    static ThresholdConfig from(const core::ConfigSection& section);
};

class ThresholdPolicy final : public Policy {
public:
    explicit ThresholdPolicy(ThresholdConfig config) : m_config(config) {}

    [[nodiscard]] std::string_view name() const override { return "threshold"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    [[nodiscard]] const ThresholdConfig& config() const { return m_config; }

private:
    ThresholdConfig m_config;
    // Per GPU index: the time of the latest observation when this policy last changed its knob.
    std::map<int, core::Seconds> m_last_change;
};

}  // namespace joulepilot::decide
