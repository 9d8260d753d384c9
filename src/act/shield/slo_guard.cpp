#include "act/shield/slo_guard.hpp"

#include <cmath>

#include <fmt/format.h>

namespace joulepilot::act {

namespace {

// A latency that grew past the allowance over its reference (the pre-change value, or the policy's announced
// upper bound), the growth counted as a fraction of the SLO target or of the reference (LatencyBasis).
std::optional<std::string> latency_breach(const char* what, std::optional<double> before,
                                          std::optional<double> announced, std::optional<double> now,
                                          double target_s, const GuardSettings& guard) {
    const bool use_announced = announced && guard.judge_against == JudgeAgainst::announced;
    const std::optional<double> reference = use_announced ? announced : before;
    if (!reference || !now) return std::nullopt;
    const double base = guard.latency_basis == LatencyBasis::slo ? target_s : *reference;
    if (base <= 0) return std::nullopt;
    const double increase = (*now - *reference) / base;
    if (increase <= guard.max_latency_increase) return std::nullopt;
    const char* basis = guard.latency_basis == LatencyBasis::slo
                            ? "SLO"
                            : (use_announced ? "announced value" : "pre-change value");
    if (use_announced) {
        return fmt::format(
            "{} is {:.3f} s, above the {:.3f} s the policy announced (+{:.0f}% of the {}, allowed {:.0f}%)",
            what, *now, *reference, increase * 100, basis, guard.max_latency_increase * 100);
    }
    return fmt::format("{} rose from {:.3f} s to {:.3f} s (+{:.0f}% of the {}, allowed {:.0f}%)", what,
                       *reference, *now, increase * 100, basis, guard.max_latency_increase * 100);
}

}  // namespace

double attainment_allowance(double target, std::optional<double> requests, const GuardSettings& guard) {
    if (guard.attainment_z <= 0 || !requests || !(*requests >= 1) || target <= 0 || target >= 1) return 0;
    return guard.attainment_z * std::sqrt(target * (1 - target) / *requests);
}

const char* to_string(JudgeAgainst judge) {
    return judge == JudgeAgainst::announced ? "announced" : "before";
}

std::optional<std::string> guard_breach(const ServiceHealth& before, const ServiceHealth& now,
                                        const GuardSettings& guard, const SloTargets& slo,
                                        const Announcement& announced) {
    if (!guard.enabled) return std::nullopt;
    // The SLO is missed now and the change made it worse (a change made while the SLO was already missed is
    // judged on whether it hurt, not on the miss itself). No announcement buys an SLO miss.
    // "Below target" allows for the reading's sampling noise (attainment_allowance).
    const double allowance = attainment_allowance(slo.attainment, now.attainment_requests, guard);
    if (now.slo_attainment && *now.slo_attainment < slo.attainment - allowance) {
        const double was = before.slo_attainment.value_or(1.0);
        if (*now.slo_attainment < was - 1e-9) {
            if (allowance > 0) {
                return fmt::format(
                    "SLO attainment fell from {:.2f}% to {:.2f}% (target {:.2f}%, less {:.2f} points of noise "
                    "at {:.0f} requests)",
                    was * 100, *now.slo_attainment * 100, slo.attainment * 100, allowance * 100,
                    *now.attainment_requests);
            }
            return fmt::format("SLO attainment fell from {:.2f}% to {:.2f}% (target {:.2f}%)", was * 100,
                               *now.slo_attainment * 100, slo.attainment * 100);
        }
    }
    if (auto why = latency_breach("p99 TTFT", before.ttft_p99_s, announced.ttft_p99_s, now.ttft_p99_s,
                                  slo.ttft.value(), guard)) {
        return why;
    }
    if (auto why = latency_breach("p99 TPOT", before.tpot_p99_s, announced.tpot_p99_s, now.tpot_p99_s,
                                  slo.tpot.value(), guard)) {
        return why;
    }
    if (announced.throughput && guard.judge_against == JudgeAgainst::announced) {
        // Against the policy's lower bound: it predicted what the fleet serves at the load it planned for.
        if (now.throughput && *announced.throughput > 0) {
            const double drop = 1 - *now.throughput / *announced.throughput;
            if (drop > guard.max_throughput_drop) {
                return fmt::format(
                    "throughput {:.0f} is {:.0f}% below the {:.0f} the policy announced (allowed {:.0f}%)",
                    *now.throughput, drop * 100, *announced.throughput, guard.max_throughput_drop * 100);
            }
        }
    } else if (before.throughput && now.throughput && *before.throughput > 0) {
        // Served per offered: a quieter hour is not a throughput loss.
        double ratio = *now.throughput / *before.throughput;
        if (before.arrival_rate && now.arrival_rate && *before.arrival_rate > 0 && *now.arrival_rate > 0) {
            ratio /= *now.arrival_rate / *before.arrival_rate;
        }
        if (1 - ratio > guard.max_throughput_drop) {
            return fmt::format("throughput per offered request fell {:.0f}% (allowed {:.0f}%)",
                               (1 - ratio) * 100, guard.max_throughput_drop * 100);
        }
    }
    return std::nullopt;
}

bool severe_breach(const ServiceHealth& before, const ServiceHealth& now, const GuardSettings& guard,
                   const SloTargets& slo) {
    if (!guard.enabled || !now.slo_attainment) return false;
    // Both far under the target and far under where it was: a service already missing its SLO that slips a
    // little more is judged over the confirm window like any other breach.
    return *now.slo_attainment < slo.attainment - guard.severe_attainment_drop &&
           *now.slo_attainment < before.slo_attainment.value_or(1.0) - guard.severe_attainment_drop;
}

std::optional<std::string> announcement_refusal(const Announcement& announced, const SloTargets& slo) {
    for (const auto& value : {announced.ttft_p99_s, announced.tpot_p99_s, announced.throughput}) {
        if (value && (!std::isfinite(*value) || *value < 0)) {
            return fmt::format(
                "the policy announced a prediction that is not a finite, non-negative number ({})", *value);
        }
    }
    if (announced.ttft_p99_s && *announced.ttft_p99_s > slo.ttft.value()) {
        return fmt::format(
            "the policy announced p99 TTFT {:.3f} s, above the {:.3f} s SLO: the SLO is a hard limit",
            *announced.ttft_p99_s, slo.ttft.value());
    }
    if (announced.tpot_p99_s && *announced.tpot_p99_s > slo.tpot.value()) {
        return fmt::format(
            "the policy announced p99 TPOT {:.4f} s, above the {:.4f} s SLO: the SLO is a hard limit",
            *announced.tpot_p99_s, slo.tpot.value());
    }
    return std::nullopt;
}

}  // namespace joulepilot::act
