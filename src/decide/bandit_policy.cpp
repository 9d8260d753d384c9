#include "decide/bandit_policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace joulepilot::decide {
namespace {

// What one trial saw after it settled.
struct TrialReading {
    std::size_t samples = 0;
    std::optional<double> joules_per_token;
    double latency_ratio = 0;  // largest p99 / SLO over TTFT and TPOT
    double attainment = 1;     // lowest SLO attainment seen
};

TrialReading read_trial(const learn::ObservationWindow& window, double from_s, const Constraints& constraints) {
    TrialReading r;
    if (window.empty()) return r;
    const auto& catalog = window.latest().catalog();
    const auto power = catalog.find("fleet.power_watts");
    const auto tokens = catalog.find("fleet.generation_tokens_per_s");
    const auto ttft = catalog.find("service.ttft_p99_seconds");
    const auto tpot = catalog.find("service.tpot_p99_seconds");
    const auto attain = catalog.find("service.slo_attainment_ratio");
    double power_sum = 0;
    double token_sum = 0;
    std::size_t energy_samples = 0;
    const auto value = [](const sense::Observation& o, std::optional<std::size_t> i) -> std::optional<double> {
        if (!i) return std::nullopt;
        const auto v = o.get(*i);
        return v && std::isfinite(*v) ? v : std::nullopt;
    };
    for (std::size_t i = 0; i < window.size(); ++i) {
        const sense::Observation& o = window.at(i);
        if (o.time.value() < from_s) continue;
        ++r.samples;
        const auto p = value(o, power);
        const auto g = value(o, tokens);
        if (p && g) {
            power_sum += *p;
            token_sum += *g;
            ++energy_samples;
        }
        if (const auto v = value(o, ttft)) r.latency_ratio = std::max(r.latency_ratio, *v / constraints.slo_ttft.value());
        if (const auto v = value(o, tpot)) r.latency_ratio = std::max(r.latency_ratio, *v / constraints.slo_tpot.value());
        if (const auto v = value(o, attain)) r.attainment = std::min(r.attainment, *v);
    }
    // Below one token/s per sample the ratio is noise (an idle fleet), not an energy per token.
    if (energy_samples > 0 && token_sum > static_cast<double>(energy_samples)) {
        r.joules_per_token = power_sum / token_sum;
    }
    return r;
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::string item;
    for (char c : text + ",") {
        if (c == ',') {
            if (!item.empty()) items.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return items;
}

}  // namespace

void ArmPosterior::observe(double value, double noise_var) {
    // Conjugate normal update with known noise: precisions add, means weigh by precision.
    const double precision = 1 / var + 1 / noise_var;
    mean = (mean / var + value / noise_var) / precision;
    var = 1 / precision;
    ++trials;
}

BanditConfig BanditConfig::from(const core::ConfigSection& section, const std::string& default_model_path) {
    BanditConfig c;
    c.model_path = section.string("model", default_model_path);
    c.space = SearchSpace::from(section);
    // Only batching and clocks are tuned online: a precision change is a drain and reload and the
    // replica count is consolidation, both too slow and too costly to explore by trial.
    c.space.groups &= kBatching | kClocks;
    c.dwell_s = section.number("dwell_s", c.dwell_s, 5, 3600);
    c.settle_s = section.number("settle_s", c.settle_s, 0, 3600);
    if (c.settle_s >= c.dwell_s) {
        throw core::ConfigError(fmt::format("config: key '{}' ({}) must be below key '{}' ({})",
                                            section.path_of("settle_s"), c.settle_s, section.path_of("dwell_s"),
                                            c.dwell_s));
    }
    c.slo_margin = section.number("slo_margin", c.slo_margin, 0.05, 1.0);
    c.expand_margin = section.number("expand_margin", c.expand_margin, 0.0, 1.0);
    c.prior_sd_ratio = section.number("prior_sd_ratio", c.prior_sd_ratio, 0.001, 10);
    c.noise_sd_ratio = section.number("noise_sd_ratio", c.noise_sd_ratio, 0.001, 10);
    c.seed = static_cast<unsigned>(section.integer("seed", 1, 0, 1 << 30));
    const std::string fixed = section.string("fixed", "");
    if (!fixed.empty()) {
        const std::vector<std::string> parts = split_list(fixed);
        ReplicaConfig arm;
        try {
            if (parts.size() != 2) throw std::invalid_argument("two values");
            arm.clock_mhz = std::stod(parts[0]);
            arm.batch_cap = std::stoi(parts[1]);
        } catch (const std::exception&) {
            throw core::ConfigError(fmt::format("{}: '{}' is not \"<clock MHz>,<batch cap>\" (e.g. \"1500,128\")",
                                                section.path_of("fixed"), fixed));
        }
        if (arm.clock_mhz < 210 || arm.clock_mhz > 1980 || arm.batch_cap < 1 || arm.batch_cap > 1024) {
            throw core::ConfigError(fmt::format("{}: '{}' is outside 210-1980 MHz, batch cap 1-1024",
                                                section.path_of("fixed"), fixed));
        }
        c.fixed = arm;
    }
    return c;
}

BanditPolicy::BanditPolicy(BanditConfig config) : m_config(std::move(config)), m_rng(m_config.seed) {}

BanditPolicy::BanditPolicy(BanditConfig config, std::shared_ptr<const learn::EnergyModel> model)
    : m_config(std::move(config)), m_model(std::move(model)), m_loaded(true), m_rng(m_config.seed) {
    if (!m_model) m_model_problem = "no energy model given";
}

void BanditPolicy::set_up(const act::KnobSpace& knobs) {
    if (!m_loaded) {
        m_loaded = true;
        auto model = learn::EnergyModel::load(m_config.model_path, knob_space_signature(knobs));
        if (model) {
            m_model = std::make_shared<const learn::EnergyModel>(std::move(*model));
        } else {
            m_model_problem = model.error().message;
            spdlog::warn("bandit: {}; going on without priors, exploring only next to observed-safe settings",
                         *m_model_problem);
        }
    }
    if (!m_arms.empty()) return;
    const CandidateGrid grid = make_grid(knobs, m_config.space);
    m_replicas = grid.replicas;
    m_arms = grid.configs;
    m_post.assign(m_arms.size(), ArmPosterior{});
    m_warm.assign(m_arms.size(), false);
    // The default arm (static's setting) is where the fleet starts and the one always assumed safe.
    const auto d = std::find(m_arms.begin(), m_arms.end(), grid.defaults);
    if (d == m_arms.end()) {
        m_arms.push_back(grid.defaults);
        m_post.emplace_back();
        m_warm.push_back(false);
        m_default = m_arms.size() - 1;
    } else {
        m_default = static_cast<std::size_t>(d - m_arms.begin());
    }
}

bool BanditPolicy::neighbours(std::size_t a, std::size_t b) const {
    const auto rank = [](const auto& list, auto v) {
        return static_cast<int>(std::find(list.begin(), list.end(), v) - list.begin());
    };
    const ReplicaConfig& x = m_arms[a];
    const ReplicaConfig& y = m_arms[b];
    const int dc = std::abs(rank(m_config.space.clocks_mhz, x.clock_mhz) - rank(m_config.space.clocks_mhz, y.clock_mhz));
    const int db = std::abs(rank(m_config.space.batch_caps, x.batch_cap) - rank(m_config.space.batch_caps, y.batch_cap));
    return x.fp8 == y.fp8 && x.power_limit_w == y.power_limit_w && dc + db == 1;
}

std::vector<std::size_t> BanditPolicy::safe_set(const std::vector<bool>& predicted_ok) const {
    std::vector<std::size_t> safe;
    for (std::size_t a = 0; a < m_arms.size(); ++a) {
        if (m_post[a].unsafe) continue;
        bool ok = a == m_default || m_post[a].observed_safe;
        if (!predicted_ok.empty()) {
            ok = ok || predicted_ok[a];
        } else {
            for (std::size_t b = 0; b < m_arms.size() && !ok; ++b) {
                ok = m_post[b].observed_safe && !m_post[b].unsafe &&
                     m_post[b].worst_latency_ratio <= m_config.expand_margin && neighbours(a, b);
            }
        }
        if (ok) safe.push_back(a);
    }
    return safe;
}

std::vector<bool> BanditPolicy::predict(const learn::ObservationWindow& window, const Constraints& constraints,
                                        int replicas) {
    if (!m_model || replicas <= 0) return {};
    const std::size_t n = static_cast<std::size_t>(std::max(1.0, m_config.dwell_s));
    const auto rps = window.mean("fleet.arrival_rate_rps", n);
    const auto prompt = window.mean("fleet.prompt_tokens_per_s", n);
    const auto gen = window.mean("fleet.generation_tokens_per_s", n);
    if (!rps || !prompt || !gen || *rps < 0 || *prompt < 0 || *gen <= 0) return {};
    std::vector<float> rows(m_arms.size() * learn::kFeatureCount);
    for (std::size_t a = 0; a < m_arms.size(); ++a) {
        float* x = &rows[a * learn::kFeatureCount];
        x[0] = static_cast<float>(*rps / replicas);
        x[1] = static_cast<float>(*prompt / replicas);
        x[2] = static_cast<float>(*gen / replicas);
        x[3] = static_cast<float>(m_arms[a].clock_mhz);
        x[4] = static_cast<float>(m_arms[a].power_limit_w);
        x[5] = static_cast<float>(m_arms[a].batch_cap);
        x[6] = static_cast<float>(m_arms[a].fp8);
    }
    std::vector<learn::Prediction> out(m_arms.size());
    if (auto ok = m_model->predict(rows, out); !ok) {
        spdlog::warn("bandit: energy model prediction failed: {}", ok.error().message);
        return {};
    }
    using learn::Target;
    std::vector<bool> verdict(m_arms.size());
    const double per_replica_gen = *gen / replicas;
    for (std::size_t a = 0; a < m_arms.size(); ++a) {
        const learn::Prediction& p = out[a];
        const double ttft = p.upper[static_cast<std::size_t>(Target::p99_ttft_s)];
        const double tpot = p.upper[static_cast<std::size_t>(Target::p99_tpot_s)];
        const bool keeps_up = p.point[static_cast<std::size_t>(Target::throughput_tps)] >= 0.97 * per_replica_gen;
        verdict[a] = keeps_up && ttft <= m_config.slo_margin * constraints.slo_ttft.value() &&
                     tpot <= m_config.slo_margin * constraints.slo_tpot.value();
        // Warm start once, from the first load seen: the model's energy per token at that load.
        if (!m_warm[a] && m_post[a].trials == 0) {
            const double jpt = p.point[static_cast<std::size_t>(Target::power_w)] / per_replica_gen;
            if (std::isfinite(jpt) && jpt > 0) {
                m_post[a].mean = jpt;
                m_post[a].var = std::pow(m_config.prior_sd_ratio * jpt, 2);
                m_warm[a] = true;
            }
        }
    }
    return verdict;
}

Decision BanditPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                              const Constraints& constraints) {
    set_up(knobs);
    Decision decision;
    if (m_replicas == 0) {
        decision.rationale = "bandit: no replica.<i>.active knobs; nothing to tune";
        return decision;
    }
    const std::vector<int> states = replica_states(state.window, m_replicas);
    const auto apply = [&](std::size_t arm) {
        decision.settings = actuate(knobs, states, FleetAction{m_replicas, m_arms[arm]}, m_config.space.groups);
    };
    const auto label = [&](std::size_t arm) {
        return fmt::format("{:.0f} MHz / batch {}", m_arms[arm].clock_mhz, m_arms[arm].batch_cap);
    };

    if (m_config.fixed) {
        const FleetAction target{m_replicas, [&] {
                                     ReplicaConfig c = m_arms[m_default];
                                     c.clock_mhz = m_config.fixed->clock_mhz;
                                     c.batch_cap = m_config.fixed->batch_cap;
                                     return c;
                                 }()};
        decision.settings = actuate(knobs, states, target, kBatching | kClocks);
        decision.rationale = fmt::format("bandit: fixed at {:.0f} MHz / batch {} (no learning)",
                                         target.config.clock_mhz, target.config.batch_cap);
        return decision;
    }

    const double now = state.now.value();
    std::string report;
    if (m_current) {
        const std::size_t arm = *m_current;
        const double elapsed = now - m_trial_start_s;
        // Judge latency from the settle point on, but never later than a 10 s grace: a breach is cut
        // short as soon as it shows.
        const double guard_from = m_trial_start_s + std::min(m_config.settle_s, 10.0);
        const TrialReading guard = read_trial(state.window, guard_from, constraints);
        const bool broke = guard.samples > 0 && (guard.latency_ratio > m_config.slo_margin ||
                                                 guard.attainment < constraints.slo_target);
        if (broke && arm != m_default) {
            m_post[arm].unsafe = true;
            m_post[arm].worst_latency_ratio = std::max(m_post[arm].worst_latency_ratio, guard.latency_ratio);
            report = fmt::format("{} broke the SLO limits (p99 {:.2f} x SLO, attainment {:.3f}): marked unsafe; ",
                                 label(arm), guard.latency_ratio, guard.attainment);
            m_current.reset();
        } else if (elapsed + 1e-9 < m_config.dwell_s) {
            apply(arm);
            decision.rationale = fmt::format("bandit: trying {} ({:.0f} of {:.0f} s)", label(arm), elapsed,
                                             m_config.dwell_s);
            return decision;
        } else {
            const TrialReading r = read_trial(state.window, m_trial_start_s + m_config.settle_s, constraints);
            ArmPosterior& post = m_post[arm];
            post.worst_latency_ratio = std::max(post.worst_latency_ratio, r.latency_ratio);
            if (r.latency_ratio <= m_config.slo_margin && r.attainment >= constraints.slo_target) {
                post.observed_safe = true;
            }
            if (r.joules_per_token) {
                post.observe(*r.joules_per_token, std::pow(m_config.noise_sd_ratio * *r.joules_per_token, 2));
                report = fmt::format("{}: {:.3f} J/token, p99 {:.2f} x SLO (posterior {:.3f} +- {:.3f}, {} trials); ",
                                     label(arm), *r.joules_per_token, r.latency_ratio, post.mean,
                                     std::sqrt(post.var), post.trials);
            } else {
                report = fmt::format("{}: no tokens measured; ", label(arm));
            }
            m_current.reset();
        }
    }

    // Thompson sampling over the safe set: draw each arm's energy per token, take the least.
    const std::vector<bool> predicted = predict(state.window, constraints, m_replicas);
    const std::vector<std::size_t> safe = safe_set(predicted);
    std::size_t best = m_default;
    double best_draw = std::numeric_limits<double>::infinity();
    for (const std::size_t a : safe) {
        const ArmPosterior& p = m_post[a];
        // An arm never measured and with no prior gets a draw below every measured one: try it first.
        const double draw = (p.trials == 0 && !m_warm[a])
                                ? -1.0 / static_cast<double>(a + 1)
                                : std::normal_distribution<double>(p.mean, std::sqrt(p.var))(m_rng);
        if (draw < best_draw) {
            best_draw = draw;
            best = a;
        }
    }
    m_current = best;
    m_trial_start_s = now;
    apply(best);
    decision.rationale =
        fmt::format("bandit: {}next {} of {} safe arms{} ({})", report, label(best), safe.size(),
                    predicted.empty() ? "" : " (model-predicted)",
                    m_model_problem ? "no model: " + *m_model_problem : "model priors");
    return decision;
}

}  // namespace joulepilot::decide
