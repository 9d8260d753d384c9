#pragma once
// The `rl` policy's network at run time: a small MLP (dense layers, tanh or linear) read from a JSON
// file that the PPO trainer (tools/train_rl, libtorch) writes, evaluated here with Eigen, with no
// libtorch. The file records what the network was trained for: its input features (names, in order,
// with the normalisation mean and sd), its discrete actions (fleet-level settings) and the knob-space
// signature (decide/fleet_plan.hpp). load() refuses a missing, corrupt or foreign file, a network whose
// layer shapes do not chain, or one trained for other features or another knob space, naming the file.
// Evaluation is const and allocation-free after load; called by the loop thread.
//
// File format (version 1):
//   {"format": "joulepilot-rl-policy", "version": 1, "knob_space": "...", "features": ["..."],
//    "input_mean": [...], "input_sd": [...],
//    "actions": [{"active_fraction": 1.0, "clock_mhz": 1980, "batch_cap": 256}, ...],
//    "layers": [{"in": k, "out": m, "activation": "tanh"|"linear", "weights": [m*k, row-major],
//                "bias": [m]}, ...],             // the last layer's out = number of actions (logits)
//    "trained": {...free-form provenance...}}

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "core/result.hpp"

namespace joulepilot::learn {

struct PolicyAction {
    double active_fraction = 1;  // of the fleet's replicas serving
    double clock_mhz = 1980;     // SM clock cap of every serving replica
    int batch_cap = 256;         // batch cap of every serving replica
};

class PolicyNetwork {
public:
    // `expected_features` must equal the file's feature list; `expected_knob_space` (when not empty)
    // its knob-space signature.
    static core::Result<PolicyNetwork> load(const std::filesystem::path& path, const std::string& expected_knob_space,
                                            const std::vector<std::string>& expected_features);
    static core::Result<PolicyNetwork> parse(const std::string& text, const std::string& source,
                                             const std::string& expected_knob_space,
                                             const std::vector<std::string>& expected_features);

    // The index of the action with the largest logit (the greedy action) for one state.
    [[nodiscard]] std::size_t act(std::span<const double> state) const;
    // The logits for one state (after input normalisation and every layer).
    [[nodiscard]] const Eigen::VectorXf& logits(std::span<const double> state) const;

    [[nodiscard]] const std::vector<PolicyAction>& actions() const { return m_actions; }
    [[nodiscard]] std::size_t inputs() const { return static_cast<std::size_t>(m_mean.size()); }

private:
    struct Layer {
        Eigen::MatrixXf weights;  // out x in
        Eigen::VectorXf bias;
        bool tanh = true;
    };
    std::vector<Layer> m_layers;
    Eigen::VectorXf m_mean;
    Eigen::VectorXf m_sd;
    std::vector<PolicyAction> m_actions;
    // Scratch for evaluation (the network is owned and used by one thread).
    mutable std::vector<Eigen::VectorXf> m_scratch;
};

}  // namespace joulepilot::learn
