#pragma once
// The SLO guard's judgement: after a change, is the service worse than the policy announced for it (or,
// with no announcement, than in the window before it), by more than the operator allows? Pure functions
// over health readings and the announcement; the shield owns the timing (which change is on probation,
// since when) and the rollback.

#include <cstdint>
#include <optional>
#include <string>

#include "core/units.hpp"

namespace joulepilot::act {

// The service as the loop last saw it (from the twin's service.* signals or the Prometheus sensor).
// Missing values are not judged.
struct ServiceHealth {
    std::optional<double> slo_attainment;     // fraction of recent requests that met the SLO
    std::optional<double> ttft_p99_s;
    std::optional<double> tpot_p99_s;
    std::optional<double> throughput;         // tokens/s (or requests/s) served
    std::optional<double> arrival_rate;       // requests/s offered; throughput is judged relative to it
    // Requests behind the attainment reading (about the arrivals over the window it covers; the shield
    // estimates it from arrival_rate). Missing: attainment is judged with no allowance for noise.
    std::optional<double> attainment_requests;
};

struct SloTargets {
    core::Seconds ttft{1.0};
    core::Seconds tpot{0.1};
    double attainment = 0.99;
};

// What a policy predicts its move will do, announced with the move: upper bounds for latency, a lower
// bound for throughput (any may be missing; a missing one is judged against the pre-change window).
struct Announcement {
    std::optional<double> ttft_p99_s;  // upper bound
    std::optional<double> tpot_p99_s;  // upper bound
    std::optional<double> throughput;  // lower bound, in ServiceHealth::throughput's unit
    [[nodiscard]] bool empty() const { return !ttft_p99_s && !tpot_p99_s && !throughput; }
};

// What a change on probation is judged against.
enum class JudgeAgainst : std::uint8_t {
    announced,  // the policy's announcement where it made one (a move whose cost it predicted may stick)
    before,     // always the pre-change window (announcements are only checked against the SLO)
};

enum class LatencyBasis : std::uint8_t {
    slo,     // a latency increase counts as a fraction of the SLO target (the headroom is the budget)
    before,  // a latency increase counts as a fraction of the pre-change (or announced) value
};

struct GuardSettings {
    bool enabled = true;
    core::Seconds watch{120};           // how long a change stays on probation
    JudgeAgainst judge_against = JudgeAgainst::announced;
    double max_latency_increase = 0.10;  // fraction (see LatencyBasis)
    LatencyBasis latency_basis = LatencyBasis::slo;
    double max_throughput_drop = 0.10;  // fraction of the pre-change throughput per offered request
    core::Seconds backoff{600};         // a rolled-back move is refused this long (doubling on repeats)
    // A breach must hold on every tick for this long before the change is rolled back. The service
    // readings are windows of a few hundred requests, so one burst moves them by a point or more; a
    // harmful change keeps breaching, a burst does not. Default: one service window (60 s of readings).
    // 0: roll back at the first breaching tick.
    core::Seconds confirm{60};
    // ... except a severe breach, rolled back at once: SLO attainment this far below its target and this far
    // below the pre-change window. A burst into a consolidated fleet fails most requests within seconds.
    double severe_attainment_drop = 0.05;
    // SLO attainment is a share of the last window's few hundred requests: an arm meeting the SLO for 99.3%
    // of its requests over half an hour has minutes at 98%. A reading counts as under the target only when
    // it is under it by more than attainment_z standard errors of a share of that many requests,
    // sqrt(target (1 - target) / n) (0: any reading under the target). `attainment_window` is the window
    // the attainment signal covers (the twin's and the Prometheus sensor's: 60 s), for n.
    double attainment_z = 2.0;
    core::Seconds attainment_window{60};
};

// How far under the target a reading of `requests` requests may fall before it counts as a miss (the
// guard's noise allowance; 0 with no count or attainment_z = 0).
double attainment_allowance(double target, std::optional<double> requests, const GuardSettings& guard);

// Why `now` breaches the guard, or nothing when it does not. SLO attainment is always judged (below
// target by more than the noise allowance, and lower than `before`); latency and throughput against
// `announced` where it holds a value and the guard judges against announcements, else against `before`.
std::optional<std::string> guard_breach(const ServiceHealth& before, const ServiceHealth& now,
                                        const GuardSettings& guard, const SloTargets& slo,
                                        const Announcement& announced = {});

// True when `now` is so far below the SLO attainment target and below `before` (both by
// guard.severe_attainment_drop) that the guard does not wait for its confirm window.
bool severe_breach(const ServiceHealth& before, const ServiceHealth& now, const GuardSettings& guard,
                   const SloTargets& slo);

// Why an announcement is refused before anything is written: a predicted latency above the SLO (the SLO
// is a hard limit, whatever the policy expects to gain).
std::optional<std::string> announcement_refusal(const Announcement& announced, const SloTargets& slo);

// Config and audit spelling: "announced", "before".
const char* to_string(JudgeAgainst judge);

}  // namespace joulepilot::act
