#include "twin/workload/rate_scaling.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <random>

namespace joulepilot::twin {
namespace {

bool by_arrival(const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; }

// One pass over arrivals in order, summing each window's cost: shared by the vector and stream forms so
// both give the same numbers bit for bit.
class PeakScan {
public:
    PeakScan(double window_s, const RequestCost& cost) : m_window_s(window_s), m_cost(cost) {}

    void add(const RequestSpec& request) {
        const double index = std::floor(request.arrival.value() / m_window_s);
        if (!m_started) {
            m_current_index = index;
            m_started = true;
        } else if (index != m_current_index) {
            close_window();
            m_current_index = index;
            m_current_cost = 0;
        }
        m_current_cost += m_cost(request.input_tokens, request.output_tokens);
    }

    [[nodiscard]] PeakDemand finish() {
        if (!m_started) return {};
        close_window();
        return m_peak;
    }

private:
    void close_window() {
        const double demand = m_current_cost / m_window_s;
        if (!m_have_peak || demand > m_peak.replicas_needed) {
            m_peak = PeakDemand{core::Seconds(m_current_index * m_window_s), demand};
            m_have_peak = true;
        }
    }

    double m_window_s;
    const RequestCost& m_cost;
    bool m_started = false;
    bool m_have_peak = false;
    PeakDemand m_peak;
    double m_current_index = 0;
    double m_current_cost = 0;
};

bool valid_window(double window_s) { return window_s > 0 && std::isfinite(window_s); }

}  // namespace

PeakDemand peak_demand(const Workload& workload, core::Seconds window, const RequestCost& cost) {
    const double window_s = window.value();
    if (workload.empty() || !valid_window(window_s)) return {};

    // A copy only if the input is unsorted.
    Workload sorted_copy;
    const Workload* requests = &workload;
    if (!std::is_sorted(workload.begin(), workload.end(), by_arrival)) {
        sorted_copy = workload;
        std::stable_sort(sorted_copy.begin(), sorted_copy.end(), by_arrival);
        requests = &sorted_copy;
    }
    PeakScan scan(window_s, cost);
    for (const auto& request : *requests) scan.add(request);
    return scan.finish();
}

PeakDemand peak_demand(RequestStream& requests, core::Seconds window, const RequestCost& cost,
                       std::size_t* count) {
    const double window_s = window.value();
    std::size_t n = 0;
    PeakScan scan(valid_window(window_s) ? window_s : 1.0, cost);
    while (auto request = requests.next()) {
        scan.add(*request);
        ++n;
    }
    if (count != nullptr) *count = n;
    if (!valid_window(window_s)) return {};
    return scan.finish();
}

double peak_scale_factor(RequestStream& requests, core::Seconds window, double fraction, int replicas,
                         const RequestCost& cost) {
    const PeakDemand peak = peak_demand(requests, window, cost);
    if (!(peak.replicas_needed > 0)) return 1.0;
    return fraction * static_cast<double>(replicas) / peak.replicas_needed;
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
