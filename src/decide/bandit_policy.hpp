#pragma once
// `bandit`: safe online tuning of one fleet-wide setting (SM clock cap x batch cap, fleet_plan.hpp's
// grid; every replica serving, bf16) by Thompson sampling. Each arm keeps a Gaussian posterior on the
// fleet's energy per output token; a trial holds one arm for `dwell_s`, then measures fleet power over
// generated tokens/s (after `settle_s`) and the service's p99 TTFT/TPOT and SLO attainment under it.
//
// Safety: the next arm is drawn only from the safe set:
//  - never an arm whose trial broke the SLO limits (p99 above `slo_margin` x the SLO, or attainment below
//    the target); a trial that breaks them is cut short at the next decision;
//  - with the learned energy model (`joulepilot train model`): arms whose conformal upper bounds of p99
//    TTFT and TPOT at the observed load stay under `slo_margin` x the SLO and that keep up with it; the
//    model's power / token also warm-starts each arm's prior;
//  - without it (missing or foreign file: said once, then the policy goes on): the default arm, arms
//    observed safe, and grid neighbours (one step of clock or batch cap) of an arm observed with p99s
//    under `expand_margin` x the SLO (SafeOpt-style expansion under a smoothness assumption).
// Owned by the loop thread; deterministic for a given `seed`.

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/policy.hpp"
#include "learn/energy_model.hpp"

namespace joulepilot::decide {

struct BanditConfig {
    std::string model_path;        // optional energy model for the priors and the predicted-safe set
    SearchSpace space;             // clocks_mhz, batch_caps (precision and replica count are held)
    double dwell_s = 60;           // one trial
    double settle_s = 20;          // start of a trial not measured (queues settle, p99 windows turn over)
    double slo_margin = 0.8;       // a trial with p99 above margin x SLO marks the arm unsafe
    double expand_margin = 0.7;    // without a model: neighbours of arms with p99 under this x SLO may be tried
    double prior_sd_ratio = 0.15;  // prior sd of energy/token as a fraction of the model's prediction
    double noise_sd_ratio = 0.03;  // measurement noise of one trial, as a fraction of its value
    // `fixed = "<clock MHz>,<batch cap>"`: hold that one arm, no learning (the benchmark's fixed settings).
    std::optional<ReplicaConfig> fixed;
    unsigned seed = 1;

    static BanditConfig from(const core::ConfigSection& section, const std::string& default_model_path);
};

// A Gaussian posterior on one arm's mean energy per token with known observation noise (conjugate).
struct ArmPosterior {
    double mean = 0;
    double var = 1e12;  // effectively flat until warm-started or observed
    int trials = 0;
    bool unsafe = false;          // a trial broke the SLO limits
    bool observed_safe = false;   // a trial kept them
    double worst_latency_ratio = 0;  // the largest p99/SLO seen in its trials

    void observe(double value, double noise_var);
};

class BanditPolicy final : public Policy {
public:
    explicit BanditPolicy(BanditConfig config);
    // For tests and the bench: a model already in memory (shared, read-only); null = run without one.
    BanditPolicy(BanditConfig config, std::shared_ptr<const learn::EnergyModel> model);

    [[nodiscard]] std::string_view name() const override { return "bandit"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    // For tests and reports.
    [[nodiscard]] const std::vector<ReplicaConfig>& arms() const { return m_arms; }
    [[nodiscard]] const std::vector<ArmPosterior>& posteriors() const { return m_post; }
    [[nodiscard]] std::optional<std::size_t> current_arm() const { return m_current; }
    [[nodiscard]] const std::optional<std::string>& model_problem() const { return m_model_problem; }
    // Arms that may be tried now (indices into arms()); `predicted_ok` is the model's verdict per arm
    // (empty without a model).
    [[nodiscard]] std::vector<std::size_t> safe_set(const std::vector<bool>& predicted_ok) const;

private:
    void set_up(const act::KnobSpace& knobs);
    std::vector<bool> predict(const learn::ObservationWindow& window, const Constraints& constraints,
                              int replicas);
    bool neighbours(std::size_t a, std::size_t b) const;

    BanditConfig m_config;
    std::shared_ptr<const learn::EnergyModel> m_model;
    bool m_loaded = false;
    std::optional<std::string> m_model_problem;
    std::vector<ReplicaConfig> m_arms;
    std::vector<ArmPosterior> m_post;
    std::vector<bool> m_warm;  // prior set from the model
    std::size_t m_default = 0;
    int m_replicas = 0;
    std::optional<std::size_t> m_current;
    double m_trial_start_s = 0;
    std::mt19937_64 m_rng;
};

}  // namespace joulepilot::decide
