#pragma once
// Exploration data for the learned energy model (`joulepilot train model`): random knob settings under a
// range of loads, each measured on the twin's replica simulator (replica_probe.hpp). A sample takes a
// random stretch of a workload, keeps each request with probability 1/k (k log-uniform in [1, max_thin],
// so one replica sees anything from the whole fleet's load to a sixteenth of it), draws a random SM
// clock cap, power limit, batch cap and precision, and records the load features the mpc policy
// forecasts (requests/s, prompt and output tokens/s) with what the replica did. Deterministic for a
// seed; samples are independent, so callers may split the work across threads.

#include <cstdint>
#include <vector>

#include "learn/energy_model.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

struct ExplorationOptions {
    double warmup_s = 60;
    double measure_s = 120;
    double drain_s = 60;
    double max_thin = 16;
    double slo_ttft_s = 1.0;
    double slo_tpot_s = 0.1;
    double prefill_token_budget = 8192;
};

// Sample `index` of the exploration of `workload` with `seed` (the same triple gives the same row).
learn::ModelRow explore_one(const ReplicaModel& model, const Workload& workload, std::uint64_t seed,
                            std::uint64_t index, const ExplorationOptions& options);

}  // namespace joulepilot::twin
