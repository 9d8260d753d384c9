#pragma once
// Built-in scenarios and user traces, scaled to the fleet.
//  - default:    the ServeGen DeepSeek-R1 production day (arrivals and token lengths sampled from its
//                per-window distributions), scaled so its busiest 10-minute window needs
//                `scale_peak` (default 0.75) of the fleet's capacity at default settings;
//  - azure-conv, azure-code: the Azure LLM inference traces 2023 (one hour each), scaled so the busiest
//                minute needs `scale_peak` (default 0.75) of the fleet;
//  - a trace file (--trace): replayed as recorded unless `scale_peak` is given (busiest minute).
// Capacity is measured with the replica model's cost of each request at default settings (see
// rate_scaling.hpp for the method).
// The workload comes two ways: `source` always (streams that generate or replay the requests as they are
// read: the agent's twin world reads one, so a day of requests is never held whole), and the `workload`
// vector too unless `materialize_workload` is off (the oracle, `train`, `bench` read it whole).

#include <cstdint>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"
#include "twin/workload/request_stream.hpp"

namespace joulepilot::twin {

std::vector<std::string> scenario_names();

struct ScenarioOptions {
    std::string scenario = "default";
    std::optional<std::filesystem::path> trace;  // replaces the scenario's workload
    std::optional<double> scale_peak;            // fraction of the fleet the busiest window needs
    int gpus = 8;
    std::uint64_t seed = 1;
    std::optional<double> duration_s;            // cut the workload (arrivals) at this time
    bool materialize_workload = true;            // false: Scenario::workload stays empty (read `source`)
};

struct Scenario {
    std::string name;  // "default", "azure-conv", "azure-code" or "trace:<file name>"
    Workload workload;           // every request, by arrival; empty unless options.materialize_workload
    std::shared_ptr<const WorkloadSource> source;  // the same requests as streams (never null)
    std::size_t requests = 0;    // how many requests the workload has, materialised or not
    double duration_s = 0;       // arrivals happen in [0, duration)
    double scale_factor = 1;     // applied to the recorded/sampled rate
    double peak_window_s = 0;    // window used for scaling
    double peak_demand_replicas = 0;  // demand of the busiest window after scaling, in replicas
    std::string scaling_note;    // for people: what was scaled and why
};

core::Result<Scenario> build_scenario(const ScenarioOptions& options, const ReplicaModel& model,
                                      const GpuSettings& defaults, const std::filesystem::path& data_dir);

}  // namespace joulepilot::twin
