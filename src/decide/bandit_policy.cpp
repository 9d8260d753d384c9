#include "decide/bandit_policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace joulepilot::decide {
namespace {

class SignalReader {
public:
    explicit SignalReader(const learn::ObservationWindow& window) {
        if (window.empty()) return;
        const auto& catalog = window.latest().catalog();
        m_power = catalog.find("fleet.power_watts");
        m_tokens = catalog.find("fleet.generation_tokens_per_s");
        m_ttft = catalog.find("service.ttft_p99_seconds");
        m_tpot = catalog.find("service.tpot_p99_seconds");
        m_attain = catalog.find("service.slo_attainment_ratio");
        m_arrivals = catalog.find("fleet.arrival_rate_rps");
    }
    static std::optional<double> value(const sense::Observation& o, std::optional<std::size_t> i) {
        if (!i) return std::nullopt;
        const auto v = o.get(*i);
        return v && std::isfinite(*v) ? v : std::nullopt;
    }
    [[nodiscard]] std::optional<double> power(const sense::Observation& o) const { return value(o, m_power); }
    [[nodiscard]] std::optional<double> tokens(const sense::Observation& o) const {
        return value(o, m_tokens);
    }
    [[nodiscard]] std::optional<double> attainment(const sense::Observation& o) const {
        return value(o, m_attain);
    }
    [[nodiscard]] bool has_arrivals() const { return m_arrivals.has_value(); }
    [[nodiscard]] std::optional<double> arrivals(const sense::Observation& o) const {
        return value(o, m_arrivals);
    }
    // The larger of p99 TTFT and TPOT over their SLOs (reported, not judged).
    [[nodiscard]] std::optional<double> latency_ratio(const sense::Observation& o,
                                                      const Constraints& constraints) const {
        std::optional<double> ratio;
        if (const auto v = value(o, m_ttft)) ratio = *v / constraints.slo_ttft.value();
        if (const auto v = value(o, m_tpot))
            ratio = std::max(ratio.value_or(0), *v / constraints.slo_tpot.value());
        return ratio;
    }

private:
    std::optional<std::size_t> m_power, m_tokens, m_ttft, m_tpot, m_attain, m_arrivals;
};

// What the samples of a window strictly after some time saw (each sample covers the sense interval
// that ends at its time).
struct TrialReading {
    double power_sum = 0;  // W, over samples with both power and tokens/s
    double token_sum = 0;  // tokens/s, over the same samples
    std::size_t energy_samples = 0;
    double latency_sum = 0;  // p99 / SLO, summed over samples that have it
    std::size_t latency_samples = 0;
};

TrialReading read_trial(const learn::ObservationWindow& window, double after_s,
                        const Constraints& constraints) {
    TrialReading r;
    const SignalReader read(window);
    for (std::size_t i = 0; i < window.size(); ++i) {
        const sense::Observation& o = window.at(i);
        if (o.time.value() <= after_s) continue;
        const auto p = read.power(o);
        const auto g = read.tokens(o);
        if (p && g) {
            r.power_sum += *p;
            r.token_sum += *g;
            ++r.energy_samples;
        }
        if (const auto ratio = read.latency_ratio(o, constraints)) {
            r.latency_sum += *ratio;
            ++r.latency_samples;
        }
    }
    return r;
}

// The requests that arrived in (from_s, to_s], from the samples' arrival rates (each sample covers the
// interval since the one before it); without an arrival signal, the seconds (a time weight). Arrivals,
// not completions: on a load steady over a minute they are the same count.
double requests_between(const learn::ObservationWindow& window, double from_s, double to_s) {
    const SignalReader read(window);
    double total = 0;
    for (std::size_t i = 1; i < window.size(); ++i) {
        const double t = window.at(i).time.value();
        if (t <= from_s || t > to_s) continue;
        const double dt = t - std::max(from_s, window.at(i - 1).time.value());
        if (!read.has_arrivals()) {
            total += dt;
        } else if (const auto rate = read.arrivals(window.at(i)); rate && *rate > 0) {
            total += *rate * dt;
        }
    }
    return total;
}

// The first sample after `after_s` whose SLO attainment is under `floor` (a severe minute: the target
// less the severe drop). Attainment covers the last `latency_window_s`, so before `window_turned_s` (the
// move plus that window) a sample counts only where it is worse than at the move: until then the window
// still holds requests served under the previous setting. When the service was already under the target
// at the move (`leftover`: a bad arm's queue still draining, its misses still finishing), nothing counts
// before the window has turned over: the misses keep growing after the move, and they are not the new
// arm's.
std::optional<double> severe_minute(const learn::ObservationWindow& window, double after_s,
                                    double window_turned_s, double attainment_at_move, bool leftover,
                                    double floor) {
    const SignalReader read(window);
    for (std::size_t i = 0; i < window.size(); ++i) {
        const sense::Observation& o = window.at(i);
        const double t = o.time.value();
        if (t <= after_s) continue;
        const auto a = read.attainment(o);
        if (a && *a < floor && (t >= window_turned_s || (!leftover && *a < attainment_at_move))) return a;
    }
    return std::nullopt;
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
    observed_sum += value;
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
                                            section.path_of("settle_s"), c.settle_s,
                                            section.path_of("dwell_s"), c.dwell_s));
    }
    c.apply_timeout_s = section.number("apply_timeout_s", c.apply_timeout_s, 1, 3600);
    c.latency_window_s = section.number("latency_window_s", c.latency_window_s, 0, 3600);
    c.blocked_s = section.number("blocked_s", c.blocked_s, 0, 86400);
    c.slo_margin = section.number("slo_margin", c.slo_margin, 0.05, 1.0);
    c.severe_attainment_drop = section.number("severe_attainment_drop", c.severe_attainment_drop, 0.0, 1.0);
    c.expand_miss_share = section.number("expand_miss_share", c.expand_miss_share, 0.0, 1.0);
    c.attainment_sd = section.number("attainment_sd", c.attainment_sd, 0.0, 1.0);
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
            throw core::ConfigError(
                fmt::format("{}: '{}' is not \"<clock MHz>,<batch cap>\" (e.g. \"1500,128\")",
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
    m_model_jpt.assign(m_arms.size(), 0.0);
    // The default arm (static's setting) is where the fleet starts and the one always assumed safe.
    const auto d = std::find(m_arms.begin(), m_arms.end(), grid.defaults);
    if (d == m_arms.end()) {
        m_arms.push_back(grid.defaults);
        m_post.emplace_back();
        m_warm.push_back(false);
        m_model_jpt.push_back(0.0);
        m_default = m_arms.size() - 1;
    } else {
        m_default = static_cast<std::size_t>(d - m_arms.begin());
    }
}

std::pair<double, double> BanditPolicy::prior(std::size_t arm, std::optional<double> own) const {
    // The model's error is mostly a level (its energy per token at a load rests on its power and its
    // throughput; docs/benchmarks.md), so its prediction is scaled by what the arms measured so far (and
    // `own`, this arm's first measurement) showed against theirs: the model's shape, the measurements'
    // level. Raw measurements, not posteriors, set the level, so it never shrinks back to the model's.
    double ratio_sum = 0;
    int measured = 0;
    for (std::size_t b = 0; b < m_arms.size(); ++b) {
        if (m_post[b].trials > 0 && m_warm[b]) {
            ratio_sum += m_post[b].observed_sum / m_post[b].trials / m_model_jpt[b];
            ++measured;
        }
    }
    if (own) {
        ratio_sum += *own / m_model_jpt[arm];
        ++measured;
    }
    const double mean = m_model_jpt[arm] * (measured > 0 ? ratio_sum / measured : 1.0);
    return {mean, m_config.prior_sd_ratio * mean};
}

bool BanditPolicy::neighbours(std::size_t a, std::size_t b) const {
    const auto rank = [](const auto& list, auto v) {
        return static_cast<int>(std::find(list.begin(), list.end(), v) - list.begin());
    };
    const ReplicaConfig& x = m_arms[a];
    const ReplicaConfig& y = m_arms[b];
    const int dc =
        std::abs(rank(m_config.space.clocks_mhz, x.clock_mhz) - rank(m_config.space.clocks_mhz, y.clock_mhz));
    const int db =
        std::abs(rank(m_config.space.batch_caps, x.batch_cap) - rank(m_config.space.batch_caps, y.batch_cap));
    return x.fp8 == y.fp8 && x.power_limit_w == y.power_limit_w && dc + db == 1;
}

std::vector<std::size_t> BanditPolicy::safe_set(const std::vector<bool>& predicted_ok) const {
    std::vector<std::size_t> safe;
    for (std::size_t a = 0; a < m_arms.size(); ++a) {
        if (m_post[a].unsafe) continue;
        // Tried and not set aside: safe, or under the target by less than one trial's noise (retried).
        bool ok = a == m_default || m_post[a].observed_safe || m_post[a].judged > 0 ||
                  (!predicted_ok.empty() && predicted_ok[a]);
        // Expansion next to arms observed well inside the SLO (missing at most expand_miss_share of the
        // budget), with or without the model: the model's latency bounds are wide (docs/benchmarks.md),
        // and where it clears nothing the bandit must still be able to move one step at a time.
        const double floor = 1 - m_config.expand_miss_share * (1 - m_slo_target);
        for (std::size_t b = 0; b < m_arms.size() && !ok; ++b) {
            const ArmPosterior& pb = m_post[b];
            // Its attainment less one trial-noise sd / sqrt(trials): one good minute is not enough.
            const double lower = pb.attainment().value_or(0) -
                                 (pb.judged > 0 ? m_config.attainment_sd / std::sqrt(pb.judged) : 0);
            ok = pb.observed_safe && !pb.unsafe && lower + 1e-12 >= floor && neighbours(a, b);
        }
        if (ok) safe.push_back(a);
    }
    return safe;
}

std::vector<bool> BanditPolicy::predict(const learn::ObservationWindow& window,
                                        const Constraints& constraints, int replicas) {
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
        const bool keeps_up =
            p.point[static_cast<std::size_t>(Target::throughput_tps)] >= 0.97 * per_replica_gen;
        verdict[a] = keeps_up && ttft <= m_config.slo_margin * constraints.slo_ttft.value() &&
                     tpot <= m_config.slo_margin * constraints.slo_tpot.value();
        // The model's energy per token at the load now: the shape of the untried arms' priors.
        const double jpt = p.point[static_cast<std::size_t>(Target::power_w)] / per_replica_gen;
        if (std::isfinite(jpt) && jpt > 0) {
            m_model_jpt[a] = jpt;
            m_warm[a] = true;
        }
    }
    return verdict;
}

int BanditPolicy::holding(const act::KnobSpace& knobs, std::size_t arm) const {
    const ReplicaConfig& c = m_arms[arm];
    const auto at = [&](const std::string& name, double value) {
        const act::Knob* k = knobs.get(name);
        return k == nullptr || k->current == value;  // a knob this machine lacks cannot disagree
    };
    const unsigned groups = m_config.space.groups;
    int count = 0;
    for (int i = 0; i < m_replicas; ++i) {
        const std::string gpu = "gpu." + std::to_string(i) + ".";
        const std::string replica = "replica." + std::to_string(i) + ".";
        const bool clocks =
            (groups & kClocks) == 0 || (at(gpu + "sm_clock_cap_hz", core::from_mhz(c.clock_mhz).value()) &&
                                        at(gpu + "power_limit_watts", c.power_limit_w));
        const bool batch = (groups & kBatching) == 0 || at(replica + "batch_cap", c.batch_cap);
        count += clocks && batch ? 1 : 0;
    }
    return count;
}

void BanditPolicy::accumulate(const learn::ObservationWindow& window, double now,
                              const Constraints& constraints) {
    Trial& t = *m_trial;
    const double from = std::max(t.measure_from_s, t.measured_until_s);
    if (now <= from) return;
    const TrialReading r = read_trial(window, from, constraints);
    t.power_sum += r.power_sum;
    t.token_sum += r.token_sum;
    t.energy_samples += r.energy_samples;
    t.latency_sum += r.latency_sum;
    t.latency_samples += r.latency_samples;
    // Attainment over the measured time: whenever a whole service window has passed since the stretch
    // covered so far, the sample that ends it speaks for the requests that arrived since.
    const SignalReader read(window);
    for (std::size_t i = 0; i < window.size(); ++i) {
        const sense::Observation& o = window.at(i);
        const double at = o.time.value();
        if (at <= from || at > now) continue;
        const auto a = read.attainment(o);
        if (!a) continue;
        t.last_attainment = a;
        if (at + 1e-9 >= t.covered_until_s + m_config.latency_window_s) {
            const double n = requests_between(window, t.covered_until_s, at);
            t.requests += n;
            t.missed += (1 - std::clamp(*a, 0.0, 1.0)) * n;
            t.covered_until_s = at;
        }
    }
    t.measured_s += now - from;
    t.measured_until_s = now;
}

void BanditPolicy::close_attainment(const learn::ObservationWindow& window) {
    Trial& t = *m_trial;
    if (!t.last_attainment || t.measured_until_s <= t.covered_until_s) return;
    // A trial shorter than the window (or its tail past the last whole window): the latest sample's
    // window reaches back before the stretch, so it speaks for it only approximately.
    const double n = requests_between(window, t.covered_until_s, t.measured_until_s);
    t.requests += n;
    t.missed += (1 - std::clamp(*t.last_attainment, 0.0, 1.0)) * n;
    t.covered_until_s = t.measured_until_s;
}

Decision BanditPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                              const Constraints& constraints) {
    set_up(knobs);
    Decision decision;
    if (m_replicas == 0) {
        decision.rationale = "bandit: no replica.<i>.active knobs; nothing to tune";
        return decision;
    }
    // Every move is announced with what an arm that meets the SLO for the target share of its requests
    // promises, p99 at most the SLO, so the shield's SLO guard judges the move against that, not against
    // the window before it.
    decision.predicted.p99_ttft = constraints.slo_ttft;
    decision.predicted.p99_tpot = constraints.slo_tpot;
    const std::vector<int> states = replica_states(state.window, m_replicas);
    const auto apply = [&](std::size_t arm) {
        decision.settings =
            actuate(knobs, states, FleetAction{m_replicas, m_arms[arm]}, m_config.space.groups);
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
    m_slo_target = constraints.slo_target;
    std::string report;
    if (m_trial) {
        Trial& t = *m_trial;
        const std::size_t arm = t.arm;
        ArmPosterior& post = m_post[arm];
        const int count = holding(knobs, arm);
        const bool holds = count == m_replicas;
        // A severe minute is looked for at every decision from 10 s after the draw (or the settle time,
        // if shorter), whether or not the shield has applied the arm everywhere yet: it cuts the trial.
        // Milder misses are judged over the trial's requests at its end.
        const auto severe = severe_minute(state.window, t.drawn_s + std::min(m_config.settle_s, 10.0),
                                          t.drawn_s + m_config.latency_window_s, t.attainment_at_draw,
                                          t.attainment_at_draw < constraints.slo_target,
                                          constraints.slo_target - m_config.severe_attainment_drop);
        if (count < t.most_holding) {
            // Fewer replicas hold the arm than before, though the bandit kept asking for it: the shield's
            // SLO guard rolled it back (the whole move, or its canary). It judged the arm harmful; the
            // bandit does not argue (never the default arm: moves toward the defaults are never judged).
            // The partial measurement of a rolled-back trial is dropped.
            ++post.rollbacks;
            if (arm != m_default) post.unsafe = true;
            report = fmt::format("{} was rolled back by the shield: marked unsafe; ", label(arm));
            m_trial.reset();
        } else if (severe && arm != m_default) {
            post.unsafe = true;
            post.observed_safe = false;
            report =
                fmt::format("{} had a severe minute (SLO attainment {:.3f}, target {:.3f}): marked unsafe; ",
                            label(arm), *severe, constraints.slo_target);
            m_trial.reset();
        } else if (!t.held_since_s && !holds && now - t.drawn_s + 1e-9 >= m_config.apply_timeout_s) {
            // The shield did not put it on every replica in time (a back-off, a canary that did not
            // pass, a rate limit): set it aside rather than measure a mix of settings.
            ++post.not_applied;
            post.blocked_until_s = now + m_config.blocked_s;
            report = fmt::format("{} not applied on every replica after {:.0f} s: set aside for {:.0f} s; ",
                                 label(arm), now - t.drawn_s, m_config.blocked_s);
            m_trial.reset();
        } else {
            t.most_holding = count;
            if (!t.held_since_s && holds) {
                t.held_since_s = now;
                t.measure_from_s = now + m_config.settle_s;
                t.measured_until_s = now;
                t.covered_until_s = t.measure_from_s;
            }
            if (t.held_since_s) accumulate(state.window, now, constraints);
            if (!t.held_since_s || t.measured_s + 1e-9 < m_config.dwell_s) {
                apply(arm);
                decision.rationale =
                    t.held_since_s
                        ? fmt::format("bandit: trying {} ({:.0f} of {:.0f} s measured)", label(arm),
                                      t.measured_s, m_config.dwell_s)
                        : fmt::format("bandit: trying {} (waiting {:.0f} s for every replica to hold it)",
                                      label(arm), now - t.drawn_s);
                return decision;
            }
            // Safety is what the SLO says: the share of the arm's requests, over all its trials, that met
            // it, against the target. A minute's p99 above the SLO is no breach on its own: an arm that
            // meets the SLO for 99% of its requests may have such minutes (docs/benchmarks.md).
            close_attainment(state.window);
            post.requests += t.requests;
            post.missed += t.missed;
            const double ratio =
                t.latency_samples > 0 ? t.latency_sum / static_cast<double>(t.latency_samples) : 0;
            post.worst_latency_ratio = std::max(post.worst_latency_ratio, ratio);
            if (t.requests > 0) ++post.judged;
            const std::optional<double> attained = post.attainment();
            const double noise = post.judged > 0 ? m_config.attainment_sd / std::sqrt(post.judged) : 0;
            post.observed_safe = attained.value_or(1) >= constraints.slo_target;
            if (attained && *attained + noise < constraints.slo_target && arm != m_default)
                post.unsafe = true;
            const std::string slo =
                attained ? fmt::format(
                               "SLO met by {:.2f}% of this trial's requests, {:.2f}% of {:.0f} over its "
                               "trials (estimated){}",
                               t.requests > 0 ? 100 * (1 - t.missed / t.requests) : 100.0, 100 * *attained,
                               post.requests,
                               post.unsafe          ? ", under the target: marked unsafe"
                               : post.observed_safe ? ""
                                                    : ", under the target by less than a trial's noise: "
                                                      "tried again before it is judged")
                         : std::string("no SLO attainment measured");
            // Below one token/s per sample the ratio is noise (an idle fleet), not an energy per token.
            if (t.energy_samples > 0 && t.token_sum > static_cast<double>(t.energy_samples)) {
                const double jpt = t.power_sum / t.token_sum;
                if (post.trials == 0 && m_warm[arm]) {
                    const auto [mean, sd] = prior(arm, jpt);
                    post.mean = mean;
                    post.var = sd * sd;
                }
                post.observe(jpt, std::pow(m_config.noise_sd_ratio * jpt, 2));
                report = fmt::format(
                    "{}: {:.3f} J/token, mean p99 {:.2f} x SLO, {} (posterior {:.3f} +- {:.3f}, {} trials); ",
                    label(arm), jpt, ratio, slo, post.mean, std::sqrt(post.var), post.trials);
            } else {
                report = fmt::format("{}: no tokens measured, {}; ", label(arm), slo);
            }
            m_trial.reset();
        }
    }

    // Thompson sampling over the safe set: draw each arm's energy per token, take the least.
    const std::vector<bool> predicted = predict(state.window, constraints, m_replicas);
    std::vector<std::size_t> safe = safe_set(predicted);
    std::erase_if(safe, [&](std::size_t a) { return a != m_default && m_post[a].blocked_until_s > now; });
    std::size_t best = m_default;
    double best_draw = std::numeric_limits<double>::infinity();
    // A bad trial's misses are still in the service's attainment window: back to the default arm (the
    // shield never judges a move toward the defaults) until the window is at the target again, or the
    // guard would roll back the next arm for misses that are not its own.
    const std::optional<double> now_attained =
        state.window.empty() ? std::nullopt : SignalReader(state.window).attainment(state.window.latest());
    const bool recovering = now_attained && *now_attained < constraints.slo_target;
    if (recovering) {
        // Staying on the arm every replica holds is no move (nothing for the guard to judge): it and
        // the default are the choices.
        std::erase_if(safe, [&](std::size_t a) { return a != m_default && holding(knobs, a) != m_replicas; });
        report +=
            fmt::format("service attainment {:.2f}% is under the target: no new arm until it recovers; ",
                        100 * *now_attained);
    }
    for (const std::size_t a : safe) {
        const ArmPosterior& p = m_post[a];
        // An arm never measured and with no prior gets a draw below every measured one: try it first.
        double draw = 0;
        if (p.trials > 0) {
            draw = std::normal_distribution<double>(p.mean, std::sqrt(p.var))(m_rng);
        } else if (m_warm[a]) {
            const auto [mean, sd] = prior(a);
            draw = std::normal_distribution<double>(mean, sd)(m_rng);
        } else {
            draw = -1.0 / static_cast<double>(a + 1);
        }
        if (draw < best_draw) {
            best_draw = draw;
            best = a;
        }
    }
    Trial next;
    next.arm = best;
    next.drawn_s = now;
    next.attainment_at_draw = now_attained.value_or(1);
    next.most_holding = holding(knobs, best);
    if (next.most_holding == m_replicas) {
        // Already in place (the same arm again): nothing changes, so nothing needs to settle.
        next.held_since_s = now;
        next.measure_from_s = now;
        next.measured_until_s = now;
        next.covered_until_s = now;
    }
    m_trial = next;
    apply(best);
    decision.rationale = fmt::format("bandit: {}next {} of {} safe arms{} ({})", report, label(best),
                                     safe.size(), predicted.empty() ? "" : " (model-predicted)",
                                     m_model_problem ? "no model: " + *m_model_problem : "model priors");
    // One line per trial (--log-level debug), with what the draw was made from.
    if (spdlog::should_log(spdlog::level::debug)) {
        const auto [mean, sd] =
            m_post[best].trials > 0 || !m_warm[best]
                ? std::pair<double, double>{m_post[best].mean, std::sqrt(m_post[best].var)}
                : prior(best);
        spdlog::debug("t={:.0f} s {} [drew {:.3f} from {:.3f} +- {:.3f}]", now, decision.rationale, best_draw,
                      mean, sd);
    }
    return decision;
}

}  // namespace joulepilot::decide
