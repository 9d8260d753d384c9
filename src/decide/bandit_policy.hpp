#pragma once
// `bandit`: safe online tuning of one fleet-wide setting (SM clock cap x batch cap, fleet_plan.hpp's
// grid; every replica serving, bf16) by Thompson sampling. Each arm keeps a Gaussian posterior on the
// fleet's energy per output token. A trial draws an arm and asks for it; the safety shield may canary it
// (one replica first), refuse it (back-off) or roll it back, so a trial measures only while every
// replica holds the arm: from the first decision that finds every replica's knobs at the arm, plus
// `settle_s` after a change, for `dwell_s`, fleet power over generated tokens/s and the share of
// requests meeting the SLO (the service's attainment over its last `latency_window_s`, one window per
// stretch of the trial, weighted by the requests that arrived in it). An arm the shield does not apply
// everywhere within `apply_timeout_s` is set aside for `blocked_s`; an arm the shield rolls back is
// marked unsafe.
//
// Safety is judged on what the SLO says: the fraction of requests meeting it, against the target.
// The next arm is drawn only from the safe set:
//  - never an arm whose measured requests, over all its n trials, met the SLO less often than the target
//    by more than `attainment_sd` / sqrt(n) (estimated: attainment x arrivals per window; one trial is a
//    minute of bursty requests, so a first trial just under the target is tried again before the arm is
//    judged), one the shield's SLO guard rolled back, or one whose trial hit a severe minute
//    (attainment more than `severe_attainment_drop` under the target: the trial is cut short at the
//    next decision). A single minute's p99 above the SLO is no breach: an arm that meets the SLO for 99%
//    of its requests over its trials may still have such minutes. The service's attainment covers the
//    last `latency_window_s`, so until that window has turned over after a move, only a sample worse
//    than at the move counts against the new arm (none, if the service was under the target at the move);
//  - the default arm, arms tried and not set aside, and grid neighbours (one step of clock or batch cap)
//    of an arm observed missing at most `expand_miss_share` of the SLO's miss budget, less one trial's
//    noise (SafeOpt-style expansion under a smoothness assumption);
//  - with the learned energy model (`joulepilot train model`), also arms whose conformal upper bounds of
//    p99 TTFT and TPOT at the observed load stay under `slo_margin` x the SLO and that keep up with it.
//    The model's power / token also gives each untried arm its prior: the model's shape, scaled to the
//    level measured on the arms tried so far. Without it (missing or foreign file: said once, then the
//    policy goes on) every prior is flat and untried arms are tried first.
// While the service's attainment window is under the target (a bad trial's misses still in it), the next
// trial is the arm every replica holds (no move) or the default (a move the shield never judges): the
// guard would blame those misses on any other move.
// Every move is announced to the shield's SLO guard with p99 TTFT and TPOT at most the SLO (what an arm
// that meets the SLO for the target share of requests promises).
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
    double slo_margin = 0.8;       // the model clears an arm whose p99 upper bounds are under margin x SLO
    // A minute whose attainment is this far under the target cuts the trial and sets the arm aside.
    double severe_attainment_drop = 0.05;
    // Neighbours of an arm observed missing at most this share of the miss budget (1 - target) may be
    // tried: 0.5 at a 99% target = neighbours of arms that met the SLO for >= 99.5% of requests.
    double expand_miss_share = 0.5;
    // The spread (sd) of one trial's attainment around the arm's own: one minute's requests come in
    // bursts, so an arm that meets 99.3% over half an hour has minutes under 99% (60 s trials of 1500 MHz
    // at three quarters of the fleet spread 0.77 points, docs/benchmarks.md). An arm is set aside once its
    // attainment over its n trials plus attainment_sd / sqrt(n) is still under the target, and expanded
    // from once it minus that leaves at least 1 - expand_miss_share of the budget.
    double attainment_sd = 0.0075;
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
    bool unsafe = false;             // missed the SLO's target, hit a severe minute, or was rolled back
    bool observed_safe = false;      // its measured requests met the SLO at least as often as the target
    double requests = 0;             // requests measured over its trials (estimated from arrivals)
    double missed = 0;               // of which missed the SLO (estimated: (1 - attainment) x requests)
    int judged = 0;                  // trials whose attainment was measured
    double worst_latency_ratio = 0;  // the largest trial-mean p99 / SLO (reported, not judged)
    int rollbacks = 0;               // trials the shield's SLO guard rolled back
    int not_applied = 0;             // trials the shield did not apply on every replica in time
    double blocked_until_s = -1;     // not drawn before this time (seconds on the loop's clock)

    void observe(double value, double noise_var);
    // The share of its measured requests that met the SLO; nothing before any were measured.
    [[nodiscard]] std::optional<double> attainment() const {
        return requests > 0 ? std::optional<double>(1 - missed / requests) : std::nullopt;
    }
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
        // Requests (estimated) and misses over the measured time: each stretch of it is weighed by the
        // attainment of the service window that ends with it. Covered up to `covered_until_s`.
        double requests = 0;
        double missed = 0;
        double covered_until_s = 0;
        std::optional<double> last_attainment;  // the latest measured sample's, for the uncovered tail
        double attainment_at_draw = 1;          // the service's SLO attainment when the arm was drawn
    };

    void set_up(const act::KnobSpace& knobs);
    // How many replicas' knobs hold this arm's setting (in the knob groups the bandit tunes).
    [[nodiscard]] int holding(const act::KnobSpace& knobs, std::size_t arm) const;
    void accumulate(const learn::ObservationWindow& window, double now, const Constraints& constraints);
    // Ends the measured trial's attainment: the stretch not yet covered by a whole service window takes
    // the latest sample's attainment.
    void close_attainment(const learn::ObservationWindow& window);
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
    double m_slo_target = 0.99;  // the constraints' attainment target, as of the latest decision
    std::optional<Trial> m_trial;
    std::mt19937_64 m_rng;
};

}  // namespace joulepilot::decide
