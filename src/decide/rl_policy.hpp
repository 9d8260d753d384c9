#pragma once
// `rl`: the PPO policy trained offline in the twin (tools/train_rl, `joulepilot train rl`), run here as
// an MLP forward pass (learn/policy_network.hpp; no libtorch at run time). Every decision it builds the
// state vector (rl_state_features(): the load per replica, the service's p99 latencies over the SLO,
// the missed fraction, the serving fraction and the queue), takes the network's greedy action (a
// fleet-level setting: serving fraction x SM clock cap x batch cap) and rolls it out through
// FleetActuation (fleet_plan.hpp) like mpc.
// A missing, corrupt or foreign weights file, or one trained for another knob space or state, is
// reported once (log and every rationale) and the policy holds the `static` settings; a state with no
// valid load reading holds static for that decision. Owned by the loop thread.

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/policy.hpp"
#include "learn/policy_network.hpp"

namespace joulepilot::decide {

// The state features, in order; the trainer writes them into the weights file and load() checks them.
const std::vector<std::string>& rl_state_features();

// The state vector of one decision (nullopt when the load is not readable: missing, NaN or negative).
std::optional<std::vector<double>> rl_state(const learn::ObservationWindow& window, const Constraints& constraints,
                                            int replicas, std::size_t samples);

struct RlConfig {
    std::string model_path;  // the weights file
    int min_active = 1;
    double decide_interval_s = 10;  // the loop's; the load is averaged over it

    static RlConfig from(const core::ConfigSection& section, const std::string& default_model_path);
};

class RlPolicy final : public Policy {
public:
    explicit RlPolicy(RlConfig config) : m_config(std::move(config)) {}

    [[nodiscard]] std::string_view name() const override { return "rl"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    [[nodiscard]] const std::optional<std::string>& fallback_reason() const { return m_fallback; }

private:
    Decision hold_static(const act::KnobSpace& knobs, const std::string& why);

    RlConfig m_config;
    bool m_loaded = false;
    std::optional<learn::PolicyNetwork> m_net;
    std::optional<std::string> m_fallback;
};

}  // namespace joulepilot::decide
