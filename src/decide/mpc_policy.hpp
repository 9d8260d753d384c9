#pragma once
// `mpc`: model-predictive control over the fleet action space (fleet_plan.hpp). Every decision it
//  1. forecasts the load (requests/s, prompt and output tokens/s) with Holt smoothing (learn/forecast),
//     taking the highest forecast over the horizon a woken replica needs to serve (wake delay plus one
//     decision) and adding `forecast_margin`; while its burst memory is engaged (a severe SLO breach
//     with capacity reduced, see MpcConfig), the highest load of the last `burst_hold_s` instead;
//  2. predicts, for every candidate (replica count x clock cap x batch cap x precision), one replica's
//     power, p99 TTFT, p99 TPOT and throughput at its share of that load with the learned energy model,
//     one batched call per target (p99 TTFT, p99 TPOT, throughput, then power), each over the candidates
//     no earlier target ruled out (a decision predicts only what the search still needs);
//  3. keeps the candidates whose conformal upper bounds of p99 TTFT and TPOT stay under `slo_margin` x
//     the SLO and whose predicted throughput covers the forecast output tokens, and picks the one with
//     the least predicted fleet power (serving replicas' power + parked replicas at `parked_power_w`),
//     predicting throughput only for the two fewest latency-qualifying replica counts of each setting and
//     power only for the fewest that keep up;
//     when none qualifies, the one closest to the SLO with every replica serving (the static settings
//     while the burst memory is engaged);
//  4. parks replicas only after the lower count has been chosen for `park_hold_s` (wakes at once), and
//     rolls the choice out through FleetActuation, announcing to the shield's SLO guard the latency
//     limits it planned under (`announce`).
// A missing, corrupt or foreign model file, or a forecast with no valid data, makes it hold the
// `static` settings (through the shield like any decision), say why in the rationale, and keep
// running. Owned by the loop thread.

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/policy.hpp"
#include "learn/energy_model.hpp"
#include "learn/forecast.hpp"

namespace joulepilot::decide {

struct MpcConfig {
    std::string model_path;          // the energy model file (joulepilot train model)
    SearchSpace space;
    double slo_margin = 1.0;         // decide on upper bound <= margin x SLO (the bound is already 80%)
    double forecast_margin = 0.10;   // added to the forecast load
    double horizon_s = 60;           // how far ahead the load must be covered (wake delay + a decision)
    double park_hold_s = 120;        // a lower replica count must be chosen this long before parking
    double parked_power_w = 65;      // power of a parked replica (the fleet's idle floor)
    double decide_interval_s = 10;   // the loop's decide interval (forecast step)
    // Offset-free feedback: each decision compares the fleet's observed p99 TTFT and TPOT with the model's
    // prediction for the setting running now at the load observed now, and scales the latency bounds by
    // that ratio (smoothed in log space with this weight per decision; 0 turns it off).
    double feedback_weight = 0.2;
    double feedback_limit = 4;       // the ratio is kept within [1/limit, limit]
    // What the decision announces to the shield's SLO guard as its p99 bounds: false ("slo"), the limits
    // it planned under (slo_margin x the SLO: what it promises); true ("bounds"), the chosen candidate's
    // predicted upper bounds (tighter, so any gap between model and fleet past the guard's allowance rolls
    // the move back even with the SLO kept).
    bool announce_bounds = false;
    // Burst memory: for `burst_hold_s` the plan covers the highest decision-interval load seen over the
    // last `burst_hold_s` rather than the forecast, and composed idle parking steps aside. Engaged when
    //  - the SLO breaks while the fleet runs below the static capacity (a replica not serving, lower clocks
    //    or batch caps; now or within the last `burst_watch_s`). "Breaks": the last minute's attainment is
    //    more than `burst_attainment_drop` under the target, or the recent attainment (arrivals-weighted,
    //    half-life `burst_hold_s`) is under the target; or
    //  - one interval of the last `burst_hold_s` carried more than `burst_peak_ratio` x their mean arrival
    //    rate (and at least 20 requests), before any breach: a cold start on a bursty service.
    // A load whose bursts outrun a wake-up (seconds-long spikes several times the minute's mean, as in
    // azure-code) so stops consolidating into its lulls; a smooth load that keeps its SLO keeps its
    // savings. burst_hold_s = 0 turns it off.
    double burst_hold_s = 1800;
    double burst_watch_s = 60;
    double burst_attainment_drop = 0.05;  // the shield's "severe" breach (shield.guard.severe_attainment_drop)
    double burst_peak_ratio = 4;          // 0: only breaches engage the memory

    static MpcConfig from(const core::ConfigSection& section, const std::string& default_model_path);
};

class MpcPolicy final : public Policy {
public:
    explicit MpcPolicy(MpcConfig config);
    // For tests and the bench: a model already in memory (shared, read-only).
    MpcPolicy(MpcConfig config, std::shared_ptr<const learn::EnergyModel> model);

    [[nodiscard]] std::string_view name() const override { return "mpc"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    // Why the policy is holding static settings, if it is.
    [[nodiscard]] const std::optional<std::string>& fallback_reason() const { return m_fallback; }

    // The factor the latency bounds are scaled by now (observed / predicted, smoothed), per target.
    [[nodiscard]] double latency_feedback(learn::Target target) const;
    // Whether the plan covers the recent peak load now (burst memory engaged).
    [[nodiscard]] bool burst_memory_engaged(double now_s) const { return m_burst_until_s && now_s < *m_burst_until_s; }

private:
    Decision hold_static(const act::KnobSpace& knobs, const std::string& why);
    // The model's features for the setting running now at the load observed now, and the fleet's observed
    // p99s (nothing when the feedback is off or the fleet cannot be read).
    struct FeedbackRow {
        std::array<float, learn::kFeatureCount> x{};
        std::array<std::optional<double>, learn::kTargetCount> observed{};
    };
    // The load the decision read for its forecast (means over the last interval; missing when invalid).
    struct ObservedLoad {
        std::optional<double> rps;
        std::optional<double> prompt;
        std::optional<double> gen;
    };
    [[nodiscard]] std::optional<FeedbackRow> feedback_row(const learn::ObservationWindow& window,
                                                          const ObservedLoad& load, const FleetAction& now,
                                                          std::size_t samples) const;
    // Moves the feedback factor of `target` toward observed / predicted.
    void learn_feedback(learn::Target target, std::optional<double> observed, double predicted);
    // Engages (or extends) the burst memory; says why in the log when it was not engaged.
    void engage_burst_memory(double now_s, const std::string& why);
    // Engages the burst memory on a severe breach while capacity is (or just was) reduced, and records
    // this interval's load.
    void learn_burst(double now_s, std::optional<double> attainment, double slo_target, bool reduced,
                     const ObservedLoad& load);

    MpcConfig m_config;
    std::shared_ptr<const learn::EnergyModel> m_model;
    bool m_loaded = false;
    std::optional<std::string> m_fallback;
    learn::HoltForecaster m_rps;
    learn::HoltForecaster m_prompt;
    learn::HoltForecaster m_gen;
    std::array<double, learn::kTargetCount> m_log_feedback{};  // log(observed / predicted) per target
    std::optional<double> m_lower_since_s;  // when a replica count below the current one was first chosen
    struct LoadPoint {
        double t_s;
        double rps, prompt, gen;
    };
    std::deque<LoadPoint> m_recent_loads;          // each decision's observed load over the last burst_hold_s
    std::optional<double> m_burst_until_s;   // the burst memory is engaged until then
    double m_recent_met = 0;                 // recent attainment: arrivals-weighted, decaying sums
    double m_recent_all = 0;
    std::optional<double> m_recent_at_s;
    std::optional<double> m_reduced_s;       // when capacity was last seen below the static settings
    // Scratch for the search, kept between decisions so a decision allocates nothing once warm.
    struct Candidate {
        std::size_t config;  // index into the grid's configs
        int active;          // replicas serving
    };
    std::vector<Candidate> m_candidates;
    std::vector<float> m_rows;
    std::vector<learn::Prediction> m_predictions;
};

}  // namespace joulepilot::decide
