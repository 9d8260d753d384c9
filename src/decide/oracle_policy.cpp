#include "decide/oracle_policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "twin/replica_probe.hpp"

namespace joulepilot::decide {

OracleConfig OracleConfig::from(const core::ConfigSection& section) {
    OracleConfig c;
    c.space = SearchSpace::from(section);
    c.replan_s = section.number("replan_s", c.replan_s, 1.0, 3600.0);
    c.warmup_s = section.number("warmup_s", c.warmup_s, 0.0, 3600.0);
    c.drain_s = section.number("drain_s", c.drain_s, 0.0, 3600.0);
    c.announce_slo = section.string("announce", "slo", {"slo", "simulated"}) == "slo";
    return c;
}

core::Result<std::unique_ptr<OraclePolicy>> OraclePolicy::create(OracleConfig config, const PolicyContext& context) {
    if (context.replica_model == nullptr || context.workload == nullptr) {
        // The agent's twin world streams its workload and loads it whole only when it starts with the oracle.
        return core::fail("policy 'oracle' needs perfect knowledge of the load: it runs only in the twin "
                          "(joulepilot twin run / bench, or joulepilot agent --world twin started with --policy "
                          "oracle)");
    }
    return std::unique_ptr<OraclePolicy>(new OraclePolicy(config, context));
}

FleetAction OraclePolicy::plan(double now, const CandidateGrid& grid, const Constraints& constraints) {
    const twin::Workload& workload = *m_context.workload;
    const twin::ReplicaModel& model = *m_context.replica_model;
    const double horizon = m_config.replan_s + model.wake_delay().value();
    auto at = [&](double t) {
        return std::lower_bound(workload.begin(), workload.end(), t,
                                [](const twin::RequestSpec& r, double v) { return r.arrival.value() < v; });
    };
    const auto first = at(now - m_config.warmup_s);
    const auto last = at(now + horizon);
    twin::ProbeWindow window;
    window.measure_from_s = now;
    window.measure_to_s = now + horizon;
    window.drain_s = m_config.drain_s;
    window.slo_ttft_s = constraints.slo_ttft.value();
    window.slo_tpot_s = constraints.slo_tpot.value();
    window.prefill_token_budget = m_context.prefill_token_budget;
    const double parked_w = model.parked_power().value();
    std::vector<twin::RequestSpec> share;

    auto evaluate = [&](const ReplicaConfig& c, int n) {
        share.clear();
        for (auto it = first; it < last; it += 1) {
            if ((it - first) % n == 0) share.push_back(*it);
        }
        twin::GpuSettings s;
        s.sm_clock_cap = core::from_mhz(c.clock_mhz);
        s.power_limit = core::Watts(c.power_limit_w);
        s.batch_cap = c.batch_cap;
        s.precision = c.fp8 != 0 ? twin::Precision::fp8 : twin::Precision::bf16;
        return twin::probe_replica(model, s, share, window);
    };
    auto feasible = [&](const twin::ProbeResult& p) { return p.slo_attainment >= constraints.slo_target; };

    const bool count_free = (m_config.space.groups & kReplicas) != 0;
    const int n_lo = count_free ? grid.min_active : grid.replicas;
    double best_w = std::numeric_limits<double>::infinity();
    double best_attainment = -1;
    FleetAction best{grid.replicas, grid.defaults};
    FleetAction least_bad{grid.replicas, grid.defaults};
    bool any = false;
    twin::ProbeResult best_probe;
    for (const ReplicaConfig& c : grid.configs) {
        // The fewest replicas that keep the SLO: binary search (more replicas never make a share harder).
        int lo = n_lo;
        int hi = grid.replicas;
        std::optional<twin::ProbeResult> at_hi;
        twin::ProbeResult top = evaluate(c, hi);
        if (!feasible(top)) {
            if (top.slo_attainment > best_attainment) {
                best_attainment = top.slo_attainment;
                least_bad = {hi, c};
            }
            continue;
        }
        at_hi = top;
        while (lo < hi) {
            const int mid = (lo + hi) / 2;
            twin::ProbeResult p = evaluate(c, mid);
            if (feasible(p)) {
                hi = mid;
                at_hi = p;
            } else {
                lo = mid + 1;
            }
        }
        const double fleet_w = hi * at_hi->mean_power_w + (grid.replicas - hi) * parked_w;
        if (fleet_w < best_w) {
            best_w = fleet_w;
            best = {hi, c};
            best_probe = *at_hi;
            any = true;
        }
    }
    // What it announces to the shield: the simulated fleet power and, per `announce`, the SLO or the
    // simulated share's p99 latencies (nothing when no setting keeps the SLO).
    m_predicted = PredictedEffect{};
    if (any) {
        m_predicted.fleet_power = core::Watts(best_w);
        m_predicted.p99_ttft = m_config.announce_slo ? constraints.slo_ttft : core::Seconds(best_probe.p99_ttft_s);
        m_predicted.p99_tpot = m_config.announce_slo ? constraints.slo_tpot : core::Seconds(best_probe.p99_tpot_s);
    }
    m_why = any ? fmt::format("least energy keeping the SLO over the next {:.0f} s: {:.0f} W", horizon, best_w)
                : "no setting keeps the SLO over the next window: the one closest to it, every replica serving";
    return any ? best : least_bad;
}

Decision OraclePolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                              const Constraints& constraints) {
    const CandidateGrid grid = make_grid(knobs, m_config.space);
    const double now = state.now.value();
    if (!m_planned_at_s || now - *m_planned_at_s >= m_config.replan_s - 1e-9) {
        m_target = plan(now, grid, constraints);
        m_planned_at_s = now;
    }
    Decision decision;
    decision.settings = actuate(knobs, replica_states(state.window, grid.replicas), m_target, m_config.space.groups);
    decision.rationale = fmt::format("oracle: {} of {} replicas at {:.0f} MHz, batch cap {}, {} ({})", m_target.active,
                                     grid.replicas, m_target.config.clock_mhz, m_target.config.batch_cap,
                                     m_target.config.fp8 != 0 ? "fp8" : "bf16", m_why);
    decision.predicted = m_predicted;
    return decision;
}

}  // namespace joulepilot::decide
