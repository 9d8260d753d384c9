#pragma once
// A Policy turns what is known (ModelState), what can be turned (KnobSpace, with current values) and
// what must hold (Constraints) into a Decision. Policies do no I/O and never read a clock; they may
// keep state between calls (a hysteresis counter, an idle state machine). Called by the loop thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "act/knob.hpp"
#include "core/units.hpp"
#include "learn/model_state.hpp"

namespace joulepilot::decide {

struct Constraints {
    core::Seconds slo_ttft{1.0};   // time to first token
    core::Seconds slo_tpot{0.1};   // mean time per output token
    double slo_target = 0.99;      // fraction of requests that must meet both
};

// What the policy expects its action to do, when it has a model of that.
struct PredictedEffect {
    std::optional<core::Watts> fleet_power;
    std::optional<core::Seconds> p99_ttft;
    std::optional<core::Seconds> p99_tpot;
};

struct Decision {
    std::vector<act::KnobSetting> settings;  // only the knobs to change
    std::string rationale;                   // for people: why
    PredictedEffect predicted;
    // The policy keeps replicas serving on purpose (mpc's burst memory): a composed idle-parking rule
    // (idle_parking.hpp) leaves them on.
    bool hold_capacity = false;
};

class Policy {
public:
    virtual ~Policy() = default;
    [[nodiscard]] virtual std::string_view name() const = 0;
    virtual Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                            const Constraints& constraints) = 0;
};

}  // namespace joulepilot::decide
