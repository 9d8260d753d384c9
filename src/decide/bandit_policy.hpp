#pragma once
// `bandit`: safe online tuning of one fleet-wide setting (SM clock cap x batch cap, fleet_plan.hpp's
// grid; every replica serving, bf16) by Thompson sampling. Each arm keeps a Gaussian posterior on the
// fleet's energy per output token. A trial draws an arm and asks for it; the safety shield may canary it
// (one replica first), refuse it (back-off) or roll it back, so a trial measures only while every
// replica holds the arm: from the first decision that finds every replica's knobs at the arm, plus
// `settle_s` after a change, for `dwell_s`, fleet power over generated tokens/s and the service's p99
// TTFT/TPOT and SLO attainment. An arm the shield does not apply everywhere within `apply_timeout_s` is
// set aside for `blocked_s`; an arm the shield rolls back is marked unsafe.
//
// Safety: the next arm is drawn only from the safe set:
//  - never an arm whose trial broke the SLO (a sample with p99 TTFT or TPOT above the SLO or attainment
//    below the target: the trial is cut short at the next decision), whose trial's mean p99 was above
//    `slo_margin` x the SLO, or that the shield's SLO guard rolled back. The service's p99 and attainment
//    cover the last `latency_window_s`, so until that window has turned over after a move, only a
//    sample worse than at the move counts against the new arm;
//  - the default arm, arms observed safe, and grid neighbours (one step of clock or batch cap) of an arm
//    observed with mean p99s under `expand_margin` x the SLO (SafeOpt-style expansion under a
//    smoothness assumption);
//  - with the learned energy model (`joulepilot train model`), also arms whose conformal upper bounds of
//    p99 TTFT and TPOT at the observed load stay under `slo_margin` x the SLO and that keep up with it.
//    The model's power / token also gives each untried arm its prior: the model's shape, scaled to the
//    level measured on the arms tried so far. Without it (missing or foreign file: said once, then the
//    policy goes on) every prior is flat and untried arms are tried first.
// Every move is announced to the shield's SLO guard with the bound the bandit enforces itself: p99 TTFT
// and TPOT at most the SLO.
// Owned by the loop thread; deterministic for a given `seed`.

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/policy.hpp"
#include "learn/energy_model.hpp"

namespace joulepilot::decide {

struct BanditConfig {
    std::string model_path;        // optional energy model for the priors and the predicted-safe set
    SearchSpace space;             // clocks_mhz, batch_caps (precision and replica count are held)
    double dwell_s = 60;           // one trial's measured time, from when every replica holds the arm
    double settle_s = 20;          // after a change, not measured (queues settle, p99 windows turn over)
    double apply_timeout_s = 90;   // an arm not held by every replica this long after it was drawn ...
    double blocked_s = 600;        // ... is not drawn again for this long (the shield refused or delayed it)
    double latency_window_s = 60;  // the service's p99 / attainment signals cover this much past
    double slo_margin = 0.8;       // a trial whose mean p99 is above margin x SLO marks the arm unsafe
    double expand_margin = 0.7;    // neighbours of arms observed with p99 under this x SLO may be tried
    double prior_sd_ratio = 0.08;  // prior sd of energy/token as a fraction of the (scaled) model prediction
    double noise_sd_ratio = 0.08;  // measurement noise of one trial, as a fraction of its value
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
    double observed_sum = 0;         // of the trials' measurements (J/token), for the model priors' level
    bool unsafe = false;             // broke the SLO, was above the margin on average, or was rolled back
    bool observed_safe = false;      // a trial kept them
    double worst_latency_ratio = 0;  // the largest trial-mean p99 / SLO (or a breaching sample's)
    int rollbacks = 0;               // trials the shield's SLO guard rolled back
    int not_applied = 0;             // trials the shield did not apply on every replica in time
    double blocked_until_s = -1;     // not drawn before this time (seconds on the loop's clock)

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
    [[nodiscard]] std::optional<std::size_t> current_arm() const {
        return m_trial ? std::optional<std::size_t>(m_trial->arm) : std::nullopt;
    }
    [[nodiscard]] const std::optional<std::string>& model_problem() const { return m_model_problem; }
    // Arms that may be tried now (indices into arms()); `predicted_ok` is the model's verdict per arm
    // (empty without a model).
    [[nodiscard]] std::vector<std::size_t> safe_set(const std::vector<bool>& predicted_ok) const;
    // An untried arm's prior (mean, sd of J/token) from the model, scaled to the arms measured so far;
    // nothing for an arm the model has not predicted.
    [[nodiscard]] std::optional<std::pair<double, double>> arm_prior(std::size_t arm) const {
        if (arm >= m_warm.size() || !m_warm[arm]) return std::nullopt;
        return prior(arm);
    }
    // Seconds of the current trial measured so far (every replica at the arm, after settling).
    [[nodiscard]] double measured_s() const { return m_trial ? m_trial->measured_s : 0; }

private:
    // The current trial: its arm and what it measured while every replica held the arm.
    struct Trial {
        std::size_t arm = 0;
        double drawn_s = 0;
        int most_holding = 0;                // the most replicas seen holding the arm (fewer: rolled back)
        std::optional<double> held_since_s;  // first decision that found every replica at the arm
        double measure_from_s = 0;           // samples after this count (held_since + settle after a change)
        double measured_until_s = 0;         // samples up to here are in the sums
        double measured_s = 0;
        double power_sum = 0;
        double token_sum = 0;
        std::size_t energy_samples = 0;
        double latency_sum = 0;  // p99 / SLO summed over the measured samples
        std::size_t latency_samples = 0;
        double attainment = 1;          // lowest SLO attainment among them
        double ratio_at_draw = 0;       // the service's p99 / SLO when the arm was drawn
        double attainment_at_draw = 1;  // and its SLO attainment
    };

    void set_up(const act::KnobSpace& knobs);
    // How many replicas' knobs hold this arm's setting (in the knob groups the bandit tunes).
    [[nodiscard]] int holding(const act::KnobSpace& knobs, std::size_t arm) const;
    void accumulate(const learn::ObservationWindow& window, double now, const Constraints& constraints);
    std::vector<bool> predict(const learn::ObservationWindow& window, const Constraints& constraints,
                              int replicas);
    bool neighbours(std::size_t a, std::size_t b) const;
    // An untried arm's prior (mean, sd) from the model, scaled to the arms measured so far.
    // `own`: the arm's first measurement, counted in the level (its posterior starts from this prior).
    [[nodiscard]] std::pair<double, double> prior(std::size_t arm,
                                                  std::optional<double> own = std::nullopt) const;

    BanditConfig m_config;
    std::shared_ptr<const learn::EnergyModel> m_model;
    bool m_loaded = false;
    std::optional<std::string> m_model_problem;
    std::vector<ReplicaConfig> m_arms;
    std::vector<ArmPosterior> m_post;
    std::vector<bool> m_warm;         // the model has predicted this arm (its prior comes from it)
    std::vector<double> m_model_jpt;  // the model's latest energy per token for each arm (J)
    std::size_t m_default = 0;
    int m_replicas = 0;
    std::optional<Trial> m_trial;
    std::mt19937_64 m_rng;
};

}  // namespace joulepilot::decide
