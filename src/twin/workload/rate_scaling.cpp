#include "twin/workload/rate_scaling.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <random>

namespace joulepilot::twin {
namespace {

bool by_arrival(const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; }

}  // namespace

PeakDemand peak_demand(const Workload& workload, core::Seconds window, const RequestCost& cost) {
    const double window_s = window.value();
    if (workload.empty() || !(window_s > 0) || !std::isfinite(window_s)) return {};

    // One pass over arrivals in order, summing each window's cost; a copy only if the input is unsorted.
    Workload sorted_copy;
    const Workload* requests = &workload;
    if (!std::is_sorted(workload.begin(), workload.end(), by_arrival)) {
        sorted_copy = workload;
        std::stable_sort(sorted_copy.begin(), sorted_copy.end(), by_arrival);
        requests = &sorted_copy;
    }

    PeakDemand peak;
    bool have_peak = false;
    double current_index = std::floor(requests->front().arrival.value() / window_s);
    double current_cost = 0;
    const auto close_window = [&] {
        const double demand = current_cost / window_s;
        if (!have_peak || demand > peak.replicas_needed) {
            peak = PeakDemand{core::Seconds(current_index * window_s), demand};
            have_peak = true;
        }
    };
    for (const auto& request : *requests) {
        const double index = std::floor(request.arrival.value() / window_s);
        if (index != current_index) {
            close_window();
            current_index = index;
            current_cost = 0;
        }
        current_cost += cost(request.input_tokens, request.output_tokens);
    }
    close_window();
    return peak;
}

double peak_scale_factor(const Workload& workload, core::Seconds window, double fraction, int replicas,
                         const RequestCost& cost) {
    const PeakDemand peak = peak_demand(workload, window, cost);
    if (!(peak.replicas_needed > 0)) return 1.0;
    return fraction * static_cast<double>(replicas) / peak.replicas_needed;
}

Workload scale_workload(const Workload& workload, double factor, std::uint64_t seed) {
    assert(factor > 0 && std::isfinite(factor) && "scale_workload: factor must be > 0 and finite");
    if (!(factor > 0) || !std::isfinite(factor) || workload.empty()) return {};

    Workload sorted_copy;
    const Workload* requests = &workload;
    if (!std::is_sorted(workload.begin(), workload.end(), by_arrival)) {
        sorted_copy = workload;
        std::stable_sort(sorted_copy.begin(), sorted_copy.end(), by_arrival);
        requests = &sorted_copy;
    }

    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double whole = std::floor(factor);
    const double fraction = factor - whole;
    const auto base_copies = static_cast<std::size_t>(whole);

    Workload scaled;
    scaled.reserve(static_cast<std::size_t>(static_cast<double>(requests->size()) * factor * 1.05) + 16);
    const std::size_t count = requests->size();
    for (std::size_t i = 0; i < count; ++i) {
        const RequestSpec& request = (*requests)[i];
        // floor(F) copies, plus one with probability frac(F): F copies on average (thinning when F < 1).
        const std::size_t copies = base_copies + (unit(rng) < fraction ? 1 : 0);
        const core::Seconds next = i + 1 < count ? (*requests)[i + 1].arrival : request.arrival;
        const double gap_s = (next - request.arrival).value();
        for (std::size_t c = 0; c < copies; ++c) {
            RequestSpec copy = request;
            // min(): a + (b - a) u may round one ulp past b.
            if (c > 0) copy.arrival = std::min(request.arrival + core::Seconds(gap_s * unit(rng)), next);
            scaled.push_back(copy);
        }
    }
    // Copies jittered into the same gap are in no order among themselves.
    std::stable_sort(scaled.begin(), scaled.end(), by_arrival);
    return scaled;
}

}  // namespace joulepilot::twin
