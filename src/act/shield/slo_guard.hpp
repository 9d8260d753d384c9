#pragma once
// The SLO guard's judgement: after a change, is the service worse than in the window before it, by more
// than the operator allows? Pure functions over two health readings; the shield owns the timing (which
// change is on probation, since when) and the rollback.

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
};

struct SloTargets {
    core::Seconds ttft{1.0};
    core::Seconds tpot{0.1};
    double attainment = 0.99;
};

enum class LatencyBasis : std::uint8_t {
    slo,     // a latency increase counts as a fraction of the SLO target (the headroom is the budget)
    before,  // a latency increase counts as a fraction of the pre-change value
};

struct GuardSettings {
    bool enabled = true;
    core::Seconds watch{120};           // how long a change stays on probation
    double max_latency_increase = 0.10;  // fraction (see LatencyBasis)
    LatencyBasis latency_basis = LatencyBasis::slo;
    double max_throughput_drop = 0.10;  // fraction of the pre-change throughput per offered request
    core::Seconds backoff{600};         // a rolled-back move is refused this long (doubling on repeats)
};

// Why `now` breaches the guard against `before`, or nothing when it does not.
std::optional<std::string> guard_breach(const ServiceHealth& before, const ServiceHealth& now,
                                        const GuardSettings& guard, const SloTargets& slo);

}  // namespace joulepilot::act
