#pragma once
// What a policy may need beyond its config section, handed to the registry by whoever builds the
// world: where the data folder is (default model file), a preloaded energy model (the bench shares one
// between runs) and, for the benchmark-only oracle, the twin's replica model and the whole workload
// (perfect knowledge of the load). A real node leaves the twin fields empty; the oracle then refuses
// to start.

#include <memory>
#include <optional>
#include <string>

#include "learn/energy_model.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::decide {

struct PolicyContext {
    std::string data_dir;
    std::shared_ptr<const learn::EnergyModel> energy_model;  // used instead of [policy.mpc] model when set
    const twin::ReplicaModel* replica_model = nullptr;        // oracle only
    const twin::Workload* workload = nullptr;                 // oracle only
    double prefill_token_budget = 8192;                       // the twin's, for the oracle's probes
    double decide_interval_s = 10;                            // the loop's
    // When set, replaces the `groups` key of mpc and oracle (the bench's Shapley runs).
    std::optional<unsigned> groups;
};

}  // namespace joulepilot::decide
