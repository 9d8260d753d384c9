#include "decide/rl_policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "decide/static_policy.hpp"

namespace joulepilot::decide {

const std::vector<std::string>& rl_state_features() {
    static const std::vector<std::string> names = {
        "rps_per_replica",         // arrivals/s over all replicas (parked included: the fleet's load)
        "prompt_tps_per_replica",  //
        "gen_tps_per_replica",     //
        "ttft_p99_over_slo",       // service p99 TTFT / SLO TTFT (0 when unknown)
        "tpot_p99_over_slo",       //
        "missed_ratio",            // 1 - SLO attainment over the last 60 s
        "serving_fraction",        // replicas serving or waking / replicas
        "queue_per_replica",       // requests waiting / replicas
    };
    return names;
}

std::optional<std::vector<double>> rl_state(const learn::ObservationWindow& window, const Constraints& constraints,
                                            int replicas, std::size_t samples) {
    if (window.empty() || replicas <= 0) return std::nullopt;
    const auto rps = window.mean("fleet.arrival_rate_rps", samples);
    const auto prompt = window.mean("fleet.prompt_tokens_per_s", samples);
    const auto gen = window.mean("fleet.generation_tokens_per_s", samples);
    const auto ok = [](const std::optional<double>& v) { return v && std::isfinite(*v) && *v >= 0; };
    if (!ok(rps) || !ok(prompt) || !ok(gen)) return std::nullopt;
    const auto finite_or = [](const std::optional<double>& v, double fallback) {
        return v && std::isfinite(*v) ? *v : fallback;
    };
    const double n = replicas;
    const std::vector<int> states = replica_states(window, replicas);
    return std::vector<double>{
        *rps / n,
        *prompt / n,
        *gen / n,
        finite_or(window.latest("service.ttft_p99_seconds"), 0) / constraints.slo_ttft.value(),
        finite_or(window.latest("service.tpot_p99_seconds"), 0) / constraints.slo_tpot.value(),
        1 - finite_or(window.latest("service.slo_attainment_ratio"), 1),
        replicas_up(states) / n,
        std::max(0.0, finite_or(window.latest("fleet.queue_requests"), 0)) / n,
    };
}

RlConfig RlConfig::from(const core::ConfigSection& section, const std::string& default_model_path) {
    RlConfig c;
    c.model_path = section.string("model", default_model_path);
    c.min_active = static_cast<int>(section.integer("min_active", 1, 1, 100000));
    return c;
}

Decision RlPolicy::hold_static(const act::KnobSpace& knobs, const std::string& why) {
    StaticPolicy fallback;
    const learn::ObservationWindow nothing(1);
    Decision d = fallback.decide(learn::ModelState{core::Seconds(0), nothing}, knobs, {});
    d.rationale = fmt::format("rl: {}; holding the static settings", why);
    return d;
}

Decision RlPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                          const Constraints& constraints) {
    if (!m_loaded) {
        m_loaded = true;
        auto net = learn::PolicyNetwork::load(m_config.model_path, knob_space_signature(knobs), rl_state_features());
        if (net) {
            m_net = std::move(*net);
        } else {
            m_fallback = net.error().message;
            spdlog::error("rl: {}; falling back to the static settings", *m_fallback);
        }
    }
    if (!m_net) return hold_static(knobs, m_fallback.value_or("no policy network"));

    SearchSpace all;
    const CandidateGrid grid = make_grid(knobs, all);
    if (grid.replicas == 0) return hold_static(knobs, "no replica.<i>.active knobs to act on");
    const auto samples = static_cast<std::size_t>(std::max(1.0, m_config.decide_interval_s));
    const auto x = rl_state(state.window, constraints, grid.replicas, samples);
    if (!x) return hold_static(knobs, "no valid load observation (missing, NaN or negative)");

    const learn::PolicyAction& a = m_net->actions()[m_net->act(*x)];
    FleetAction target;
    target.active = std::clamp(static_cast<int>(std::ceil(a.active_fraction * grid.replicas - 1e-9)),
                               std::min(m_config.min_active, grid.replicas), grid.replicas);
    target.config = grid.defaults;
    target.config.clock_mhz = a.clock_mhz;
    target.config.batch_cap = a.batch_cap;
    Decision decision;
    decision.settings = actuate(knobs, replica_states(state.window, grid.replicas), target,
                                kBatching | kClocks | kReplicas);
    decision.rationale = fmt::format("rl: {:.2f} req/s per replica -> {} of {} replicas at {:.0f} MHz, batch cap {}",
                                     (*x)[0], target.active, grid.replicas, a.clock_mhz, a.batch_cap);
    return decision;
}

}  // namespace joulepilot::decide
