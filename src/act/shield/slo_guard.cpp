#include "act/shield/slo_guard.hpp"

#include <fmt/format.h>

namespace joulepilot::act {

namespace {

// A latency that grew past the allowance and now exceeds its target's share of the budget.
std::optional<std::string> latency_breach(const char* what, std::optional<double> before, std::optional<double> now,
                                          double target_s, const GuardSettings& guard) {
    if (!before || !now) return std::nullopt;
    const double base = guard.latency_basis == LatencyBasis::slo ? target_s : *before;
    if (base <= 0) return std::nullopt;
    const double increase = (*now - *before) / base;
    if (increase <= guard.max_latency_increase) return std::nullopt;
    return fmt::format("{} rose from {:.3f} s to {:.3f} s (+{:.0f}% of the {}, allowed {:.0f}%)", what, *before, *now,
                       increase * 100, guard.latency_basis == LatencyBasis::slo ? "SLO" : "pre-change value",
                       guard.max_latency_increase * 100);
}

}  // namespace

std::optional<std::string> guard_breach(const ServiceHealth& before, const ServiceHealth& now,
                                        const GuardSettings& guard, const SloTargets& slo) {
    if (!guard.enabled) return std::nullopt;
    // The SLO is missed now and the change made it worse (a change made while the SLO was already missed is
    // judged on whether it hurt, not on the miss itself).
    if (now.slo_attainment && *now.slo_attainment < slo.attainment) {
        const double was = before.slo_attainment.value_or(1.0);
        if (*now.slo_attainment < was - 1e-9) {
            return fmt::format("SLO attainment fell from {:.2f}% to {:.2f}% (target {:.2f}%)", was * 100,
                               *now.slo_attainment * 100, slo.attainment * 100);
        }
    }
    if (auto why = latency_breach("p99 TTFT", before.ttft_p99_s, now.ttft_p99_s, slo.ttft.value(), guard)) return why;
    if (auto why = latency_breach("p99 TPOT", before.tpot_p99_s, now.tpot_p99_s, slo.tpot.value(), guard)) return why;
    if (before.throughput && now.throughput && *before.throughput > 0) {
        // Served per offered: a quieter hour is not a throughput loss.
        double ratio = *now.throughput / *before.throughput;
        if (before.arrival_rate && now.arrival_rate && *before.arrival_rate > 0 && *now.arrival_rate > 0) {
            ratio /= *now.arrival_rate / *before.arrival_rate;
        }
        if (1 - ratio > guard.max_throughput_drop) {
            return fmt::format("throughput per offered request fell {:.0f}% (allowed {:.0f}%)", (1 - ratio) * 100,
                               guard.max_throughput_drop * 100);
        }
    }
    return std::nullopt;
}

}  // namespace joulepilot::act
