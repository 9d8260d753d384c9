#include "decide/idle_fsm_policy.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "decide/knob_queries.hpp"
#include "decide/linear_trend.hpp"

namespace joulepilot::decide {
namespace {

constexpr std::string_view kArrivalRate = "fleet.arrival_rate_rps";
constexpr std::string_view kTtftP99 = "service.ttft_p99_seconds";
// Samples the "current" arrival rate and utilisation are averaged over: one decision interval of the
// default loop (1 s sense, 10 s decide), long enough to smooth Poisson noise of a few requests/s.
constexpr std::size_t kRecentSamples = 10;
// The capacity estimate (arrivals per unit of busy GPU) is only updated when the serving replicas are
// together at least half a GPU busy: below that, arrivals/utilisation is mostly noise.
constexpr double kMinBusyForEstimate = 0.5;
// Weight of a new capacity sample in the running estimate: a few decisions to follow a knob change,
// without letting one odd interval resize the fleet.
constexpr double kCapacitySmoothing = 0.3;
// p99 TTFT past this fraction of the SLO wakes a replica: the wake takes tens of seconds, so waiting
// for the SLO itself to break would be too late.
constexpr double kTtftWakeFraction = 0.5;

std::string signal_of(std::string_view group, int index, std::string_view leaf) {
    return fmt::format("{}.{}.{}", group, index, leaf);
}

// The latest observation's value when it is valid and finite. Deliberately not the window's latest
// valid value: a stale queue length or replica state must not stand in for a missing one.
std::optional<double> latest_of(const learn::ObservationWindow& window, std::string_view signal) {
    if (window.empty()) return std::nullopt;
    const auto v = window.latest().get(signal);
    if (!v || !std::isfinite(*v)) return std::nullopt;
    return v;
}

std::optional<ReplicaPhase> phase_of_state(std::optional<double> state) {
    if (!state) return std::nullopt;
    const double rounded = std::round(*state);
    if (std::abs(*state - rounded) > 0.01) return std::nullopt;
    switch (static_cast<int>(rounded)) {
        case 0:
            return ReplicaPhase::parked;
        case 1:
            return ReplicaPhase::waking;
        case 2:
            return ReplicaPhase::serving;
        case 3:
            return ReplicaPhase::draining;
        default:
            return std::nullopt;
    }
}

bool serving_phase(ReplicaPhase phase) {
    return phase == ReplicaPhase::serving || phase == ReplicaPhase::idle_candidate ||
           phase == ReplicaPhase::idle;
}

struct Replica {
    int index = 0;
    std::string knob;
    bool on = false;  // commanded: replica.<i>.active is 1
    ReplicaPhase phase = ReplicaPhase::unknown;
};

}  // namespace

std::string_view to_string(ReplicaPhase phase) {
    switch (phase) {
        case ReplicaPhase::serving:
            return "serving";
        case ReplicaPhase::idle_candidate:
            return "idle-candidate";
        case ReplicaPhase::idle:
            return "idle";
        case ReplicaPhase::parked:
            return "parked";
        case ReplicaPhase::waking:
            return "waking";
        case ReplicaPhase::draining:
            return "draining";
        case ReplicaPhase::unknown:
            return "unknown";
    }
    return "unknown";
}

IdleFsmConfig IdleFsmConfig::from(const core::ConfigSection& section) {
    IdleFsmConfig config;
    config.min_active = static_cast<std::size_t>(section.integer("min_active", 1, 1, 100000));
    config.sm_idle_ratio = section.number("sm_idle_ratio", config.sm_idle_ratio, 0.0, 1.0);
    config.memory_idle_ratio = section.number("memory_idle_ratio", config.memory_idle_ratio, 0.0, 1.0);
    config.idle_samples = static_cast<std::size_t>(section.integer("idle_samples", 3, 1, 600));
    config.trend_samples = static_cast<std::size_t>(section.integer("trend_samples", 60, 3, 3600));
    config.lookahead_s = section.number("lookahead_s", config.lookahead_s, 0.0, 3600.0);
    config.target_utilization = section.number("target_utilization", config.target_utilization, 0.05, 1.0);
    config.queue_wake = static_cast<double>(section.integer("queue_wake", 4, 0, 1000000));
    config.min_on_s = section.number("min_on_s", config.min_on_s, 0.0, 86400.0);
    config.replica_capacity_rps =
        section.number("replica_capacity_rps", config.replica_capacity_rps, 0.0, 1e6);
    return config;
}

std::optional<double> IdleFsmPolicy::replica_capacity_rps() const {
    if (m_config.replica_capacity_rps > 0) return m_config.replica_capacity_rps;
    return m_capacity_estimate_rps;
}

void IdleFsmPolicy::update_capacity_estimate(const learn::ObservationWindow& window) {
    // Requests/s per unit of busy GPU among the replicas serving now: arrivals over the sum of the
    // serving GPUs' utilisation. Utilisation is a busy fraction, and a continuously batching replica is
    // "busy" with a single sequence, so it saturates long before throughput does: the estimate is a
    // lower bound, often well below what a replica can serve. That errs on the side of the SLO (more
    // replicas kept on; at moderate load the policy keeps the whole fleet on and only parks in troughs).
    // A configured replica_capacity_rps (e.g. from a calibration run) replaces it for more savings.
    const auto arrivals = window.mean(kArrivalRate, kRecentSamples);
    if (!arrivals || !std::isfinite(*arrivals) || *arrivals <= 0) return;
    double busy = 0;
    for (const auto& [index, phase] : m_phases) {
        if (!serving_phase(phase)) continue;
        const auto u = window.mean(signal_of("gpu", index, "utilization_ratio"), kRecentSamples);
        if (u && std::isfinite(*u)) busy += std::clamp(*u, 0.0, 1.0);
    }
    if (busy < kMinBusyForEstimate) return;
    const double sample = *arrivals / busy;
    m_capacity_estimate_rps = m_capacity_estimate_rps ? (1 - kCapacitySmoothing) * *m_capacity_estimate_rps +
                                                            kCapacitySmoothing * sample
                                                      : sample;
}

Decision IdleFsmPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                               const Constraints& constraints) {
    Decision decision;
    const learn::ObservationWindow& window = state.window;
    std::vector<std::string> notes;

    std::vector<Replica> replicas;
    for (const int index : knob_indices(knobs, "replica", "active")) {
        Replica replica;
        replica.index = index;
        replica.knob = signal_of("replica", index, "active");
        replica.on = knobs.get(replica.knob)->current >= 0.5;
        replicas.push_back(std::move(replica));
    }
    if (replicas.empty()) {
        decision.rationale = "idle-fsm: no replica.<i>.active knobs; nothing to do";
        return decision;
    }
    if (window.empty()) {
        decision.rationale = "idle-fsm: no observations yet; no change";
        return decision;
    }

    // Phases. The idle test runs only on replicas the world reports serving: a waking replica also
    // shows no activity and no work, and parking it would undo the wake.
    const std::size_t k = m_config.idle_samples;
    m_phases.clear();
    for (Replica& replica : replicas) {
        const int i = replica.index;
        const auto phase = phase_of_state(latest_of(window, signal_of("replica", i, "state")));
        if (!phase) {
            if (replica.on) notes.push_back(fmt::format("replica {}: state missing; not parking it", i));
            replica.phase = ReplicaPhase::unknown;
        } else if (*phase != ReplicaPhase::serving) {
            replica.phase = *phase;
        } else {
            const std::string sm = signal_of("gpu", i, "sm_activity_ratio");
            const std::string memory = signal_of("gpu", i, "memory_activity_ratio");
            const std::string queue = signal_of("replica", i, "queue_requests");
            const std::string running = signal_of("replica", i, "running_requests");
            std::vector<std::string_view> missing;
            for (const std::string* signal : {&sm, &memory, &queue, &running}) {
                if (!latest_of(window, *signal)) missing.push_back(*signal);
            }
            // Counts are whole requests, so "below 0.5" reads "zero" without an exact float compare.
            const auto quiet = [&](std::size_t count) {
                return window.all_below(sm, count, m_config.sm_idle_ratio) &&
                       window.all_below(memory, count, m_config.memory_idle_ratio) &&
                       window.all_below(queue, count, 0.5) && window.all_below(running, count, 0.5);
            };
            if (!missing.empty()) {
                replica.phase = ReplicaPhase::serving;
                if (replica.on) {
                    notes.push_back(
                        fmt::format("replica {}: {} missing; not parking it", i, fmt::join(missing, ", ")));
                }
            } else if (quiet(k)) {
                replica.phase = ReplicaPhase::idle;
            } else if (quiet(1)) {
                replica.phase = ReplicaPhase::idle_candidate;
            } else {
                replica.phase = ReplicaPhase::serving;
            }
        }
        m_phases[i] = replica.phase;
    }

    // Demand now (mean of the recent samples) and `lookahead_s` ahead. Never predict below the recent
    // mean: the trend is for waking early, not for parking on a guess that load will fall.
    const std::optional<double> rate_now = latest_of(window, kArrivalRate);
    std::optional<double> predicted;
    if (rate_now) {
        const double recent = window.mean(kArrivalRate, kRecentSamples).value_or(*rate_now);
        const auto trend = fit_linear_trend(window, kArrivalRate, m_config.trend_samples);
        predicted = std::max(0.0, recent);
        if (trend) predicted = std::max(*predicted, trend->at(m_config.lookahead_s));
        notes.insert(notes.begin(),
                     trend ? fmt::format("demand {:.2f} rps, trend {:+.4f} rps/s -> {:.2f} rps in {:.0f} s",
                                         recent, trend->slope_per_second, *predicted, m_config.lookahead_s)
                           : fmt::format("demand {:.2f} rps (too few samples for a trend)", recent));
    } else {
        notes.insert(notes.begin(), "arrival rate missing: no demand prediction, not parking");
    }

    if (m_config.replica_capacity_rps <= 0) update_capacity_estimate(window);
    const std::optional<double> capacity = replica_capacity_rps();

    const std::size_t n = replicas.size();
    const std::size_t floor_on = std::min(m_config.min_active, n);
    std::size_t needed = floor_on;
    if (predicted && capacity && *capacity > 0) {
        const double replicas_needed =
            std::ceil(*predicted / (*capacity * m_config.target_utilization) - 1e-9);
        // Clamped as a double first: a huge prediction must not overflow the conversion.
        const double bounded = std::clamp(replicas_needed, 0.0, static_cast<double>(n));
        needed = std::max(static_cast<std::size_t>(bounded), floor_on);
        notes.push_back(
            fmt::format("capacity {:.2f} rps/replica ({}): {} of {} replicas needed at utilization {:.2f}",
                        *capacity, m_config.replica_capacity_rps > 0 ? "configured" : "estimated", needed, n,
                        m_config.target_utilization));
    } else if (predicted) {
        notes.emplace_back(
            "replica capacity not known yet (serving replicas too lightly loaded to estimate)");
    }

    std::size_t on_count = 0;
    bool on_its_way = false;  // commanded on but not serving yet: a wake already in progress
    for (const Replica& replica : replicas) {
        if (!replica.on) continue;
        ++on_count;
        if (replica.phase == ReplicaPhase::waking || replica.phase == ReplicaPhase::parked) on_its_way = true;
    }

    // Pressure now: queues on serving replicas, or p99 TTFT eating into the SLO.
    std::vector<std::string> pressure;
    for (const Replica& replica : replicas) {
        if (!replica.on || !serving_phase(replica.phase)) continue;
        const auto queued = latest_of(window, signal_of("replica", replica.index, "queue_requests"));
        if (queued && *queued > m_config.queue_wake) {
            pressure.push_back(
                fmt::format("replica {} queue {:.0f} > {:.0f}", replica.index, *queued, m_config.queue_wake));
        }
    }
    const auto ttft = latest_of(window, kTtftP99);
    const double ttft_limit = kTtftWakeFraction * constraints.slo_ttft.value();
    if (ttft && *ttft > ttft_limit) {
        pressure.push_back(fmt::format("p99 TTFT {:.3f} s > {:.3f} s", *ttft, ttft_limit));
    }

    std::size_t target_on = needed;
    std::string wake_reason = on_count < floor_on ? "min_active" : "predicted demand";
    if (!pressure.empty()) {
        notes.push_back(fmt::format("pressure: {}", fmt::join(pressure, ", ")));
        if (on_its_way) {
            // One wake at a time for pressure: the queue stays until the woken replica serves, and
            // waking another each decision meanwhile would overshoot. The trend covers real surges.
            notes.emplace_back("a replica is already waking; not waking another for pressure");
        } else if (on_count >= n) {
            notes.emplace_back("every replica is already on");
        } else if (target_on <= on_count) {
            target_on = on_count + 1;
            wake_reason = "pressure";
        }
    }
    target_on = std::min(target_on, n);

    // Wake: warm replicas first (draining or still serving while commanded off: waking them cancels the
    // drain), then parked ones, lowest index first.
    std::vector<std::string> woken;
    if (target_on > on_count) {
        std::vector<const Replica*> candidates;
        for (const Replica& replica : replicas) {
            if (!replica.on) candidates.push_back(&replica);
        }
        const auto rank = [](ReplicaPhase phase) {
            if (phase == ReplicaPhase::draining || serving_phase(phase)) return 0;
            if (phase == ReplicaPhase::parked || phase == ReplicaPhase::waking) return 1;
            return 2;
        };
        std::stable_sort(candidates.begin(), candidates.end(),
                         [&](const Replica* a, const Replica* b) { return rank(a->phase) < rank(b->phase); });
        for (const Replica* replica : candidates) {
            if (on_count >= target_on) break;
            const act::Knob& knob = *knobs.get(replica->knob);
            if (!knob.domain.contains(1.0) || knob.current == 1.0) continue;
            decision.settings.push_back({replica->knob, 1.0});
            m_woken_at[replica->index] = state.now;
            woken.push_back(fmt::format("{}", replica->index));
            ++on_count;
        }
        if (on_count < target_on) notes.emplace_back("no replica left to wake");
        if (!woken.empty()) {
            notes.push_back(fmt::format("wake replica {} ({})", fmt::join(woken, ", "), wake_reason));
        }
    }

    // Park: only when nothing was woken, nothing is under pressure and demand is known, and never
    // below what the prediction needs (parking what the next decision would wake again wastes a wake).
    if (woken.empty() && pressure.empty() && predicted) {
        const std::size_t keep = std::max(floor_on, needed);
        std::vector<std::string> parked;
        for (std::size_t r = replicas.size(); r-- > 0;) {  // highest index first
            const Replica& replica = replicas[r];
            if (!replica.on || replica.phase != ReplicaPhase::idle) continue;
            if (on_count <= keep) {
                notes.push_back(
                    fmt::format("replica {}: idle but {} replica(s) must stay on", replica.index, keep));
                continue;
            }
            const auto woke = m_woken_at.find(replica.index);
            if (woke != m_woken_at.end() && state.now - woke->second < core::Seconds(m_config.min_on_s)) {
                notes.push_back(
                    fmt::format("replica {}: idle but woken {:.0f} s ago (< {:.0f} s); keeping it on",
                                replica.index, (state.now - woke->second).value(), m_config.min_on_s));
                continue;
            }
            const act::Knob& knob = *knobs.get(replica.knob);
            if (!knob.domain.contains(0.0) || knob.current == 0.0) continue;
            decision.settings.push_back({replica.knob, 0.0});
            parked.push_back(fmt::format("{}", replica.index));
            --on_count;
        }
        if (!parked.empty()) {
            notes.push_back(
                fmt::format("park replica {} (sm < {:.3f}, memory < {:.3f} for {} samples, no work)",
                            fmt::join(parked, ", "), m_config.sm_idle_ratio, m_config.memory_idle_ratio, k));
        }
    }

    std::map<ReplicaPhase, std::size_t> counts;
    for (const Replica& replica : replicas) ++counts[replica.phase];
    std::vector<std::string> phase_counts;
    phase_counts.reserve(counts.size());
    for (const auto& [phase, count] : counts)
        phase_counts.push_back(fmt::format("{} {}", count, to_string(phase)));
    notes.push_back(fmt::format("{} replicas: {}; {} on after this decision", n,
                                fmt::join(phase_counts, ", "), on_count));
    decision.rationale = fmt::format("idle-fsm: {}", fmt::join(notes, "; "));
    return decision;
}

}  // namespace joulepilot::decide
