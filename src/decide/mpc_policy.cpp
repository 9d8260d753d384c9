#include "decide/mpc_policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "decide/static_policy.hpp"

namespace joulepilot::decide {

MpcConfig MpcConfig::from(const core::ConfigSection& section, const std::string& default_model_path) {
    MpcConfig c;
    c.model_path = section.string("model", default_model_path);
    c.space = SearchSpace::from(section);
    c.slo_margin = section.number("slo_margin", c.slo_margin, 0.05, 1.0);
    c.forecast_margin = section.number("forecast_margin", c.forecast_margin, 0.0, 5.0);
    c.horizon_s = section.number("horizon_s", c.horizon_s, 0.0, 3600.0);
    c.park_hold_s = section.number("park_hold_s", c.park_hold_s, 0.0, 86400.0);
    c.parked_power_w = section.number("parked_power_w", c.parked_power_w, 0.0, 2000.0);
    c.feedback_weight = section.number("feedback_weight", c.feedback_weight, 0.0, 1.0);
    c.feedback_limit = section.number("feedback_limit", c.feedback_limit, 1.0, 100.0);
    c.announce_bounds = section.string("announce", "slo", {"slo", "bounds"}) == "bounds";
    c.burst_hold_s = section.number("burst_hold_s", c.burst_hold_s, 0.0, 86400.0);
    c.burst_watch_s = section.number("burst_watch_s", c.burst_watch_s, 0.0, 3600.0);
    c.burst_attainment_drop = section.number("burst_attainment_drop", c.burst_attainment_drop, 0.0, 1.0);
    c.burst_peak_ratio = section.number("burst_peak_ratio", c.burst_peak_ratio, 0.0, 1000.0);
    return c;
}

MpcPolicy::MpcPolicy(MpcConfig config) : m_config(std::move(config)) {}

MpcPolicy::MpcPolicy(MpcConfig config, std::shared_ptr<const learn::EnergyModel> model)
    : m_config(std::move(config)), m_model(std::move(model)), m_loaded(true) {}

Decision MpcPolicy::hold_static(const act::KnobSpace& knobs, const std::string& why) {
    StaticPolicy fallback;
    const learn::ObservationWindow nothing(1);
    Decision d = fallback.decide(learn::ModelState{core::Seconds(0), nothing}, knobs, {});
    d.rationale = fmt::format("mpc: {}; holding the static settings", why);
    return d;
}

namespace {

constexpr std::size_t kBurstMinIntervals = 6;  // a minute of intervals before the peak ratio means anything
constexpr double kBurstMinRequests = 20;       // the peak interval's requests, above Poisson noise

// The model's features for one replica of `n` serving `rps`, `prompt` and `gen` between them at `c`.
void fill_row(float* x, double rps, double prompt, double gen, int n, const ReplicaConfig& c) {
    x[0] = static_cast<float>(rps / n);
    x[1] = static_cast<float>(prompt / n);
    x[2] = static_cast<float>(gen / n);
    x[3] = static_cast<float>(c.clock_mhz);
    x[4] = static_cast<float>(c.power_limit_w);
    x[5] = static_cast<float>(c.batch_cap);
    x[6] = static_cast<float>(c.fp8);
}

}  // namespace

double MpcPolicy::latency_feedback(learn::Target target) const {
    return std::exp(m_log_feedback[static_cast<std::size_t>(target)]);
}

std::optional<MpcPolicy::FeedbackRow> MpcPolicy::feedback_row(const learn::ObservationWindow& window,
                                                                const ObservedLoad& load, const FleetAction& now,
                                                                std::size_t samples) const {
    if (m_config.feedback_weight <= 0) return std::nullopt;
    if (!load.rps || !load.prompt || !load.gen || *load.rps <= 0 || now.active == 0) return std::nullopt;
    FeedbackRow f;
    fill_row(f.x.data(), *load.rps, *load.prompt, *load.gen, now.active, now.config);
    f.observed[static_cast<std::size_t>(learn::Target::p99_ttft_s)] = window.mean("service.ttft_p99_seconds", samples);
    f.observed[static_cast<std::size_t>(learn::Target::p99_tpot_s)] = window.mean("service.tpot_p99_seconds", samples);
    return f;
}

void MpcPolicy::learn_feedback(learn::Target target, std::optional<double> observed, double predicted) {
    if (!observed || !(*observed > 0) || !(predicted > 0) || !std::isfinite(predicted)) return;
    const double limit = std::log(m_config.feedback_limit);
    double& f = m_log_feedback[static_cast<std::size_t>(target)];
    const double ratio = std::clamp(std::log(*observed / predicted), -limit, limit);
    f = std::clamp((1 - m_config.feedback_weight) * f + m_config.feedback_weight * ratio, -limit, limit);
}

void MpcPolicy::engage_burst_memory(double now_s, const std::string& why) {
    if (!burst_memory_engaged(now_s)) {
        spdlog::info("mpc: burst memory engaged for {:.0f} s at t={:.0f} s: {}", m_config.burst_hold_s, now_s, why);
    }
    m_burst_until_s = now_s + m_config.burst_hold_s;
}

void MpcPolicy::learn_burst(double now_s, std::optional<double> attainment, double slo_target, bool reduced,
                            const ObservedLoad& load) {
    if (m_config.burst_hold_s <= 0) return;
    if (reduced) m_reduced_s = now_s;
    // The recent attainment: each interval's (last-minute) attainment weighted by its arrivals, decaying
    // with a half-life of burst_hold_s; close to the share of the last half hour's requests that met the SLO.
    if (attainment && load.rps && *load.rps > 0) {
        const double keep = m_recent_at_s ? std::exp2(-(now_s - *m_recent_at_s) / m_config.burst_hold_s) : 0.0;
        m_recent_met = keep * m_recent_met + *attainment * *load.rps;
        m_recent_all = keep * m_recent_all + *load.rps;
        m_recent_at_s = now_s;
    }
    const bool behind = m_recent_all > 0 && m_recent_met / m_recent_all < slo_target;
    const bool severe = attainment && *attainment < slo_target - m_config.burst_attainment_drop;
    // Blamed on reduced capacity only while the reduction is recent: the attainment covers the last minute.
    const bool blamed = m_reduced_s && now_s - *m_reduced_s <= m_config.burst_watch_s;
    if ((severe || behind) && blamed) {
        engage_burst_memory(now_s, severe ? "the last minute's attainment fell far under the target, capacity reduced"
                                          : "the recent SLO attainment is under the target, capacity reduced");
    }
    while (!m_recent_loads.empty() && m_recent_loads.front().t_s < now_s - m_config.burst_hold_s) {
        m_recent_loads.pop_front();
    }
    if (load.rps && load.prompt && load.gen) m_recent_loads.push_back({now_s, *load.rps, *load.prompt, *load.gen});
    // The load alone can show a burst: an interval carrying burst_peak_ratio x the recent mean rate, and
    // too many requests for Poisson noise (a count of mean <= 5 reaches 20 with probability < 1e-6).
    if (m_config.burst_peak_ratio > 0 && m_recent_loads.size() >= kBurstMinIntervals) {
        double peak = 0;
        double sum = 0;
        for (const LoadPoint& p : m_recent_loads) {
            peak = std::max(peak, p.rps);
            sum += p.rps;
        }
        const double mean = sum / static_cast<double>(m_recent_loads.size());
        if (peak > m_config.burst_peak_ratio * mean && peak * m_config.decide_interval_s >= kBurstMinRequests) {
            engage_burst_memory(now_s, fmt::format("an interval carried {:.1f} requests/s, {:.1f} x the recent mean",
                                                   peak, peak / mean));
        }
    }
}

Decision MpcPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                           const Constraints& constraints) {
    if (!m_loaded) {
        m_loaded = true;
        auto model = learn::EnergyModel::load(m_config.model_path, knob_space_signature(knobs));
        if (model) {
            m_model = std::make_shared<const learn::EnergyModel>(std::move(*model));
        } else {
            m_fallback = model.error().message;
            spdlog::error("mpc: {}; falling back to the static settings", *m_fallback);
        }
    }
    if (!m_model) return hold_static(knobs, m_fallback.value_or("no energy model"));

    // 1. Forecast: one point per decision interval (the mean of its samples).
    const learn::ObservationWindow& window = state.window;
    const auto samples = static_cast<std::size_t>(std::max(1.0, m_config.decide_interval_s));
    const auto rps = window.mean("fleet.arrival_rate_rps", samples);
    const auto prompt = window.mean("fleet.prompt_tokens_per_s", samples);
    const auto gen = window.mean("fleet.generation_tokens_per_s", samples);
    if (rps) m_rps.update(*rps);
    if (prompt) m_prompt.update(*prompt);
    if (gen) m_gen.update(*gen);
    if (!m_rps.ready() || !m_prompt.ready() || !m_gen.ready()) {
        return hold_static(knobs, "no valid load observations yet to forecast from");
    }
    const CandidateGrid grid = make_grid(knobs, m_config.space);
    if (grid.replicas == 0) return hold_static(knobs, "no replica.<i>.active knobs to plan over");
    const std::vector<int> states = replica_states(window, grid.replicas);
    const double now_s = state.now.value();
    // Capacity below the static settings: a replica not serving (2: serving), or lower clocks or batch caps.
    const FleetAction now_action = current_action(knobs, states, grid.defaults);
    const bool reduced = std::count(states.begin(), states.end(), 2) < grid.replicas ||
                         now_action.config.clock_mhz < grid.defaults.clock_mhz ||
                         now_action.config.batch_cap < grid.defaults.batch_cap;
    learn_burst(now_s, window.latest("service.slo_attainment_ratio"), constraints.slo_target, reduced,
                {rps, prompt, gen});
    const int steps = std::max(1, static_cast<int>(std::ceil(m_config.horizon_s / m_config.decide_interval_s)));
    const double grow = 1 + m_config.forecast_margin;
    // The horizon's peak, and never below what is being observed now (a burst the forecast lags); with the
    // burst memory engaged, never below the recent peak either.
    double f_rps = std::max(m_rps.max_forecast(steps), m_rps.last());
    double f_prompt = std::max(m_prompt.max_forecast(steps), m_prompt.last());
    double f_gen = std::max(m_gen.max_forecast(steps), m_gen.last());
    const bool burst = burst_memory_engaged(now_s);
    if (burst) {
        for (const LoadPoint& p : m_recent_loads) {
            f_rps = std::max(f_rps, p.rps);
            f_prompt = std::max(f_prompt, p.prompt);
            f_gen = std::max(f_gen, p.gen);
        }
    }
    f_rps *= grow;
    f_prompt *= grow;
    f_gen *= grow;
    if (!std::isfinite(f_rps) || !std::isfinite(f_prompt) || !std::isfinite(f_gen)) {
        return hold_static(knobs, "the load forecast is not a number");
    }

    // 2. and 3. Predict the candidates target by target, each in one batched call over the rows still in
    // the running (a row is dropped as soon as one target rules it out), and keep the least fleet power
    // among those whose latency upper bounds keep the SLO with margin and whose throughput keeps up.
    // The setting running now rides along in the latency predictions (one more row in each batch) for the
    // feedback, which is learned before the bounds are judged.
    const std::optional<FeedbackRow> now_row = feedback_row(window, {rps, prompt, gen}, now_action, samples);
    const bool count_free = (m_config.space.groups & kReplicas) != 0;
    const int n_lo = count_free ? grid.min_active : grid.replicas;
    const std::size_t rows = grid.configs.size() * static_cast<std::size_t>(grid.replicas - n_lo + 1);
    m_rows.resize((rows + 1) * learn::kFeatureCount);
    m_predictions.resize(rows + 1);
    m_candidates.clear();
    for (std::size_t c = 0; c < grid.configs.size(); ++c) {
        for (int n = n_lo; n <= grid.replicas; ++n) m_candidates.push_back({c, n});
    }
    using learn::Target;
    const double ttft_limit = constraints.slo_ttft.value() * m_config.slo_margin;
    const double tpot_limit = constraints.slo_tpot.value() * m_config.slo_margin;
    const double needed_tps = 0.97 * f_gen / grow;
    // Predicts `target` for the candidates left, in place (m_rows and m_predictions follow m_candidates); for a
    // latency target, the setting running now goes along as one more row and updates the feedback.
    auto predict = [&](Target target) -> core::Result<void> {
        const std::size_t k = m_candidates.size();
        for (std::size_t i = 0; i < k; ++i) {
            fill_row(&m_rows[i * learn::kFeatureCount], f_rps, f_prompt, f_gen, m_candidates[i].active,
                     grid.configs[m_candidates[i].config]);
        }
        const std::size_t t = static_cast<std::size_t>(target);
        const bool feedback = now_row && now_row->observed[t].has_value();
        if (feedback) std::copy(now_row->x.begin(), now_row->x.end(), &m_rows[k * learn::kFeatureCount]);
        const std::size_t n_rows = k + (feedback ? 1 : 0);
        auto done = m_model->predict_target(target, std::span<const float>(m_rows.data(), n_rows * learn::kFeatureCount),
                                            std::span<learn::Prediction>(m_predictions.data(), n_rows));
        if (done && feedback) learn_feedback(target, now_row->observed[t], m_predictions[k].point[t]);
        return done;
    };
    // Keeps the candidates (and their predictions so far) for which `keep` holds.
    auto retain = [&](auto keep) {
        std::size_t w = 0;
        for (std::size_t i = 0; i < m_candidates.size(); ++i) {
            if (!keep(m_candidates[i], m_predictions[i])) continue;
            m_candidates[w] = m_candidates[i];
            m_predictions[w] = m_predictions[i];
            ++w;
        }
        m_candidates.resize(w);
    };
    // The conformal upper bound, scaled by what the fleet showed against the model's prediction.
    auto upper = [this](const learn::Prediction& p, Target t) {
        return p.upper[static_cast<std::size_t>(t)] * latency_feedback(t);
    };
    auto point = [](const learn::Prediction& p, Target t) { return p.point[static_cast<std::size_t>(t)]; };

    // The fallback when nothing qualifies: every replica serving, the setting closest to the SLO. Its rows
    // stay in the running through both latency targets.
    double best_violation = std::numeric_limits<double>::infinity();
    FleetAction least_bad{grid.replicas, grid.defaults};
    if (auto ok = predict(Target::p99_ttft_s); !ok) return hold_static(knobs, ok.error().message);
    retain([&](const Candidate& c, const learn::Prediction& p) {
        return upper(p, Target::p99_ttft_s) <= ttft_limit || c.active == grid.replicas;
    });
    if (auto ok = predict(Target::p99_tpot_s); !ok) return hold_static(knobs, ok.error().message);
    for (std::size_t i = 0; i < m_candidates.size(); ++i) {
        if (m_candidates[i].active != grid.replicas) continue;
        const double violation = std::max(upper(m_predictions[i], Target::p99_ttft_s) / ttft_limit,
                                          upper(m_predictions[i], Target::p99_tpot_s) / tpot_limit);
        const bool ok = upper(m_predictions[i], Target::p99_ttft_s) <= ttft_limit &&
                        upper(m_predictions[i], Target::p99_tpot_s) <= tpot_limit;
        if (!ok && violation < best_violation) {
            best_violation = violation;
            least_bad = {grid.replicas, grid.configs[m_candidates[i].config]};
        }
    }
    retain([&](const Candidate&, const learn::Prediction& p) {
        return upper(p, Target::p99_ttft_s) <= ttft_limit && upper(p, Target::p99_tpot_s) <= tpot_limit;
    });
    // Per setting, only the fewest replicas that qualify matter (a serving replica's idle power is above a
    // parked one's, so the same load on more replicas costs more): throughput is predicted for the two
    // fewest replica counts whose latency qualifies (the next one covers a count that falls just short of
    // the tokens), power for the fewest that keeps up. Candidates are in setting order, counts ascending.
    // This more than halves a light-load decision's predictions.
    auto keep_fewest = [&](std::size_t per_config) {
        std::optional<std::size_t> config;
        std::size_t seen = 0;
        retain([&](const Candidate& c, const learn::Prediction&) {
            seen = config == c.config ? seen + 1 : 0;
            config = c.config;
            return seen < per_config;
        });
    };
    keep_fewest(2);
    if (auto ok = predict(Target::throughput_tps); !ok) return hold_static(knobs, ok.error().message);
    retain([&](const Candidate& c, const learn::Prediction& p) {
        return point(p, Target::throughput_tps) * c.active >= needed_tps;
    });
    keep_fewest(1);
    if (auto ok = predict(Target::power_w); !ok) return hold_static(knobs, ok.error().message);
    double best_power = std::numeric_limits<double>::infinity();
    FleetAction best{grid.replicas, grid.defaults};
    std::optional<learn::Prediction> chosen;
    for (std::size_t i = 0; i < m_candidates.size(); ++i) {
        const int n = m_candidates[i].active;
        const double fleet_w =
            n * point(m_predictions[i], Target::power_w) + (grid.replicas - n) * m_config.parked_power_w;
        if (fleet_w < best_power) {
            best_power = fleet_w;
            best = {n, grid.configs[m_candidates[i].config]};
            chosen = m_predictions[i];
        }
    }
    const bool feasible = chosen.has_value();
    // Holding capacity for a burst no candidate serves: all of it (the model's "closest" extrapolates
    // past its data, and under overload it has picked lower batch caps).
    FleetAction target = feasible ? best : (burst ? FleetAction{grid.replicas, grid.defaults} : least_bad);

    // 4. Park only after holding the lower count; wake at once.
    const int up = replicas_up(states);
    if (count_free && target.active < up) {
        if (!m_lower_since_s) m_lower_since_s = now_s;
        if (now_s - *m_lower_since_s < m_config.park_hold_s) target.active = up;
    } else {
        m_lower_since_s.reset();
    }

    Decision decision;
    decision.settings = actuate(knobs, states, target, m_config.space.groups);
    decision.hold_capacity = burst;
    decision.rationale = fmt::format(
        "mpc: {} {:.2f} req/s, {:.0f} output tok/s -> {} of {} replicas at {:.0f} MHz, batch cap {}, {}{} "
        "(latency bounds x{:.2f} TTFT, x{:.2f} TPOT from observed)",
        burst ? "recent peak (burst memory)" : "forecast", f_rps, f_gen,
        target.active, grid.replicas, target.config.clock_mhz, target.config.batch_cap,
        target.config.fp8 != 0 ? "fp8" : "bf16",
        feasible ? "" : (burst ? " (no candidate serves the recent peak: the static settings)"
                               : " (no candidate keeps the SLO margin: closest)"),
        latency_feedback(Target::p99_ttft_s), latency_feedback(Target::p99_tpot_s));
    spdlog::debug("t={:.0f} s {}", now_s, decision.rationale);
    if (chosen) {
        decision.predicted.fleet_power = core::Watts(best_power);
        decision.predicted.p99_ttft = m_config.announce_bounds ? core::Seconds(upper(*chosen, Target::p99_ttft_s))
                                                               : core::Seconds(ttft_limit);
        decision.predicted.p99_tpot = m_config.announce_bounds ? core::Seconds(upper(*chosen, Target::p99_tpot_s))
                                                               : core::Seconds(tpot_limit);
    }
    return decision;
}

}  // namespace joulepilot::decide
