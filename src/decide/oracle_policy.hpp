#pragma once
// `oracle` (benchmarks only): the yardstick for mpc. It sees the future: every `replan_s` it reads the
// true arrivals of the coming `replan_s + wake delay` seconds (a replica woken later could not serve
// sooner) and, for every candidate setting of the fleet action space (fleet_plan.hpp), finds the fewest
// serving replicas for which one replica, simulated on the twin's replica model with its 1/n share of
// those arrivals (every n-th request, after a `warmup_s` warm-up on the preceding arrivals), meets the
// SLO for at least the target fraction of its requests. It picks the candidate with the least energy:
// n x the simulated replica's mean power + the parked replicas' power. The choice goes through the same
// FleetActuation as mpc (wake delays, precision reloads and draining are the twin's own), and announces
// to the shield's SLO guard the p99 latency bound its choice implies (`announce`).
// What it assumes (docs/policies.md): the router spreads load evenly (every n-th request), a replica's
// state at the decision is approximated by the warm-up, and requests arriving after the window are not
// simulated. So it is a strong, not a provably optimal, bound. Owned by the loop thread.

#include <optional>

#include "core/config.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/policy.hpp"
#include "decide/policy_context.hpp"

namespace joulepilot::decide {

struct OracleConfig {
    SearchSpace space;
    double replan_s = 60;
    double warmup_s = 600;  // long enough to hold the minutes-long generations in flight at the decision
    double drain_s = 60;
    // What it announces to the shield as its p99 latency bounds: "slo" (the SLO targets: its choice
    // promises only that the target fraction of requests meets the SLO, so p99 <= SLO) or "simulated" (the
    // simulated share's p99s: a point estimate of one even share, optimistic for the whole fleet).
    bool announce_slo = true;

    static OracleConfig from(const core::ConfigSection& section);
};

class OraclePolicy final : public Policy {
public:
    // Fails unless the context carries the twin's replica model and workload.
    static core::Result<std::unique_ptr<OraclePolicy>> create(OracleConfig config, const PolicyContext& context);

    [[nodiscard]] std::string_view name() const override { return "oracle"; }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

private:
    OracleConfig m_config;
    PolicyContext m_context;
    std::optional<double> m_planned_at_s;
    FleetAction m_target;
    PredictedEffect m_predicted;  // the plan's, announced with every decision until the next plan
    std::string m_why;

    OraclePolicy(OracleConfig config, PolicyContext context) : m_config(config), m_context(std::move(context)) {}
    FleetAction plan(double now, const CandidateGrid& grid, const Constraints& constraints);
};

}  // namespace joulepilot::decide
