#pragma once
// Runs one simulated replica at fixed settings over a slice of requests and measures what it did: mean
// power, p99 TTFT and TPOT, output throughput and SLO attainment of the requests that arrived in the
// measured window. The oracle evaluates candidate settings with it (the replica's share of the true load)
// and `joulepilot train model` collects its exploration data with it. Pure function of its inputs;
// thread-safe (each call builds its own replica).

#include <span>

#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

struct ProbeWindow {
    double measure_from_s = 0;  // energy and requests are measured over [from, to)
    double measure_to_s = 0;
    double drain_s = 120;       // measured requests may finish this long after `to` (later: a miss)
    double slo_ttft_s = 1.0;
    double slo_tpot_s = 0.1;
    double prefill_token_budget = 8192;
};

struct ProbeResult {
    double mean_power_w = 0;        // over the measured window
    double p99_ttft_s = 0;          // of measured requests; an unfinished one counts as the drain limit
    double p99_tpot_s = 0;
    double throughput_tps = 0;      // output tokens generated per second in the window
    double slo_attainment = 1;      // of measured requests (1 when none)
    std::size_t measured = 0;       // requests that arrived in the window
};

// `requests`: sorted by arrival, times on the same axis as the window (requests before `from` warm the
// replica up; requests after `to` are background load while the measured ones finish).
ProbeResult probe_replica(const ReplicaModel& model, const GpuSettings& settings,
                          std::span<const RequestSpec> requests, const ProbeWindow& window);

}  // namespace joulepilot::twin
