#pragma once
// `idle-fsm`: parks GPUs that have nothing to do and wakes them ahead of demand (DESIGN.md section 3).
//
// Per replica i (one GPU each) the policy reads a phase from the world's replica.<i>.state (0 parked,
// 1 waking, 2 serving, 3 draining) and, for serving replicas, its own idle test: SM activity below
// `sm_idle_ratio` and memory activity below `memory_idle_ratio` for `idle_samples` consecutive samples
// with nothing queued or running. An idle replica is parked (replica.<i>.active = 0, the lowest-power
// state) while at least `min_active` replicas, and as many as predicted demand needs, stay on.
//
// Waking is driven by a prediction: the least-squares trend of fleet.arrival_rate_rps over the last
// `trend_samples`, `lookahead_s` ahead (a parked replica needs tens of seconds to serve, plus one
// decision interval before the policy looks again), divided by what one replica serves at
// `target_utilization`. What one replica serves is `replica_capacity_rps` when configured, otherwise
// estimated from arrivals over the serving GPUs' utilisation (a lower bound: see the .cpp). It also wakes one
// replica at once when a serving replica queues more than `queue_wake` requests or p99 TTFT passes half the
// SLO, unless a replica is already on its way up. A replica this policy woke stays on for `min_on_s` (time
// from ModelState::now, never a clock).
//
// Only replica.<i>.active is ever set; clocks, power limits and batch caps are left to other policies.
// Owned and called by the loop thread.

#include <cstddef>
#include <map>
#include <optional>
#include <string_view>

#include "core/config.hpp"
#include "decide/policy.hpp"

namespace joulepilot::decide {

struct IdleFsmConfig {
    std::size_t min_active = 1;       // replicas kept serving whatever the idle test says
    double sm_idle_ratio = 0.085;     // SM activity under which a GPU may be idle
    double memory_idle_ratio = 0.12;  // memory activity under which a GPU may be idle
    std::size_t idle_samples = 3;     // consecutive idle samples before parking
    std::size_t trend_samples = 60;   // samples the arrival-rate trend is fitted to
    double lookahead_s = 60;          // how far ahead demand is predicted
    double target_utilization = 0.7;  // predicted per-replica load the fleet is sized for
    double queue_wake = 4;            // queued requests on a serving replica that wake one more
    double min_on_s = 300;            // hysteresis: a replica woken this recently is not parked
    double replica_capacity_rps = 0;  // requests/s one replica serves at full utilisation; 0: estimate

    // Reads [policy.idle-fsm]. Throws core::ConfigError on a bad type or a value out of range; unknown
    // keys are left for ConfigDocument::reject_unknown_keys().
    static IdleFsmConfig from(const core::ConfigSection& section);
};

// What the policy makes of one replica at a decision.
enum class ReplicaPhase { serving, idle_candidate, idle, parked, waking, draining, unknown };
std::string_view to_string(ReplicaPhase phase);

class IdleFsmPolicy final : public Policy {
public:
    explicit IdleFsmPolicy(IdleFsmConfig config) : m_config(config) {}

    [[nodiscard]] std::string_view name() const override { return "idle-fsm"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    [[nodiscard]] const IdleFsmConfig& config() const { return m_config; }
    // Requests/s one replica serves at full utilisation, as configured or as last estimated.
    [[nodiscard]] std::optional<double> replica_capacity_rps() const;
    // Each replica's phase at the last decision, by index.
    [[nodiscard]] const std::map<int, ReplicaPhase>& phases() const { return m_phases; }

private:
    void update_capacity_estimate(const learn::ObservationWindow& window);

    IdleFsmConfig m_config;
    std::map<int, core::Seconds> m_woken_at;  // per replica: when this policy last woke it
    std::optional<double> m_capacity_estimate_rps;
    std::map<int, ReplicaPhase> m_phases;
};

}  // namespace joulepilot::decide
