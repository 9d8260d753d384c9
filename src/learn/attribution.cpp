#include "learn/attribution.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace joulepilot::learn {
namespace {

constexpr double kMaxMicrojoules = 9e18;  // below INT64_MAX (9.22e18)

}  // namespace

std::int64_t Attribution::attributed_uj() const {
    std::int64_t sum = 0;
    for (const std::int64_t uj : consumer_uj) sum += uj;
    return sum;
}

core::Result<Attribution> attribute_energy(const DomainInterval& interval, std::span<const double> weights) {
    const double measured = interval.measured.value() * 1e6;
    const double idle = interval.idle_power.value() * interval.duration.value() * 1e6;
    if (!std::isfinite(measured) || measured < 0 || measured > kMaxMicrojoules) {
        return core::fail(fmt::format("attribution: measured energy {} J is not a finite value in [0, 9e12]",
                                      interval.measured.value()));
    }
    if (!std::isfinite(interval.duration.value()) || interval.duration.value() < 0) {
        return core::fail(
            fmt::format("attribution: duration {} s is negative or not finite", interval.duration.value()));
    }
    if (!std::isfinite(interval.idle_power.value()) || interval.idle_power.value() < 0) {
        return core::fail(fmt::format("attribution: idle power {} W is negative or not finite",
                                      interval.idle_power.value()));
    }
    double total_weight = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (!std::isfinite(weights[i]) || weights[i] < 0) {
            return core::fail(fmt::format("attribution: weight {} of consumer {} is negative or not finite",
                                          weights[i], i));
        }
        total_weight += weights[i];
    }
    if (!std::isfinite(total_weight)) return core::fail("attribution: the weights' sum is not finite");

    Attribution out;
    out.measured_uj = std::llround(measured);
    out.idle_uj =
        std::min(out.measured_uj, static_cast<std::int64_t>(std::llround(std::min(idle, kMaxMicrojoules))));
    out.consumer_uj.assign(weights.size(), 0);
    const std::int64_t active_uj = out.measured_uj - out.idle_uj;
    if (total_weight <= 0 || weights.empty()) {
        out.idle_uj = out.measured_uj;  // nothing ran: it was all the cost of being on
        return out;
    }
    // Cumulative rounding: consumer i gets round(active x C_i / W) - round(active x C_(i-1) / W) with C
    // the running weight sum. The boundaries never decrease (C only grows, and rounding is monotonic), and
    // the last is `active` itself, so the parts are >= 0 and add up to active exactly.
    double cumulative = 0;
    std::int64_t boundary_before = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        cumulative += weights[i];
        std::int64_t boundary = active_uj;
        if (i + 1 < weights.size()) {
            const double ratio = std::min(cumulative / total_weight, 1.0);
            boundary = std::clamp<std::int64_t>(std::llround(static_cast<double>(active_uj) * ratio),
                                                boundary_before, active_uj);
        }
        out.consumer_uj[i] = boundary - boundary_before;
        boundary_before = boundary;
    }
    return out;
}

IdlePowerTracker::IdlePowerTracker(std::size_t window, double percentile, std::size_t min_samples)
    : m_window(std::max<std::size_t>(window, 1)),
      m_percentile(std::clamp(percentile, 0.0, 1.0)),
      m_min_samples(std::max<std::size_t>(min_samples, 1)) {}

void IdlePowerTracker::add(core::Watts power) {
    const double w = power.value();
    if (!std::isfinite(w) || w < 0) return;
    if (m_samples.size() < m_window) {
        m_samples.push_back(w);
    } else {
        m_samples[m_next] = w;
        m_next = (m_next + 1) % m_window;
    }
}

std::optional<core::Watts> IdlePowerTracker::idle() const {
    if (m_samples.size() < m_min_samples) return std::nullopt;
    m_scratch = m_samples;
    // Nearest-rank percentile: the smallest sample with at least p of the samples at or below it.
    const auto rank =
        static_cast<std::size_t>(std::ceil(m_percentile * static_cast<double>(m_scratch.size())));
    const std::size_t k = rank == 0 ? 0 : rank - 1;
    std::nth_element(m_scratch.begin(), m_scratch.begin() + static_cast<std::ptrdiff_t>(k), m_scratch.end());
    return core::Watts(m_scratch[k]);
}

}  // namespace joulepilot::learn
