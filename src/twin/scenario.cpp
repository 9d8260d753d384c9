#include "twin/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "twin/workload/rate_scaling.hpp"
#include "twin/workload/servegen_day.hpp"
#include "twin/workload/trace_reader.hpp"

namespace joulepilot::twin {
namespace {

constexpr double kDefaultPeakFraction = 0.75;
constexpr double kServeGenWindowS = 600;  // the data's own resolution
constexpr double kTraceWindowS = 60;      // "busiest minute" for per-request traces

Workload cut(Workload workload, double duration_s) {
    const auto end = std::find_if(workload.begin(), workload.end(),
                                  [duration_s](const RequestSpec& r) { return r.arrival.value() >= duration_s; });
    workload.erase(end, workload.end());
    return workload;
}

double span_of(const Workload& workload) {
    if (workload.empty()) return 0;
    // Whole minutes covering every arrival.
    return std::ceil((workload.back().arrival.value() + 1e-9) / 60.0) * 60.0;
}

}  // namespace

std::vector<std::string> scenario_names() { return {"default", "azure-conv", "azure-code"}; }

core::Result<Scenario> build_scenario(const ScenarioOptions& options, const ReplicaModel& model,
                                      const GpuSettings& defaults, const std::filesystem::path& data_dir) {
    const auto names = scenario_names();
    if (!options.trace && std::find(names.begin(), names.end(), options.scenario) == names.end()) {
        return core::fail(fmt::format("unknown scenario '{}'; known scenarios: {} (or give --trace FILE)",
                                      options.scenario, fmt::join(names, ", ")));
    }
    const RequestCost cost = [&model, &defaults](int input_tokens, int output_tokens) {
        return model.request_cost_s(input_tokens, output_tokens, defaults);
    };
    Scenario scenario;

    if (!options.trace && options.scenario == "default") {
        auto loaded = ServeGenDay::load(data_dir / "servegen-deepseek-r1-1day");
        if (!loaded) return core::fail("scenario default: " + loaded.error().message);
        const auto day = std::make_shared<const ServeGenDay>(std::move(*loaded));
        const double duration = std::min(options.duration_s.value_or(ServeGenDay::kDaySeconds), ServeGenDay::kDaySeconds);
        // Measure the day's peak demand at the recorded rate, then sample again at the scaled rate.
        const double fraction = options.scale_peak.value_or(kDefaultPeakFraction);
        if (options.materialize_workload) {
            const Workload recorded = day->sample(1.0, core::Seconds(ServeGenDay::kDaySeconds), options.seed);
            scenario.scale_factor =
                peak_scale_factor(recorded, core::Seconds(kServeGenWindowS), fraction, options.gpus, cost);
            scenario.workload = day->sample(scenario.scale_factor, core::Seconds(duration), options.seed);
        } else {
            // The same numbers from streams: the day's requests are drawn window by window and dropped.
            const auto recorded = ServeGenDay::source(day, 1.0, core::Seconds(ServeGenDay::kDaySeconds), options.seed);
            scenario.scale_factor =
                peak_scale_factor(*recorded->open(), core::Seconds(kServeGenWindowS), fraction, options.gpus, cost);
        }
        scenario.source = ServeGenDay::source(day, scenario.scale_factor, core::Seconds(duration), options.seed);
        scenario.name = "default";
        scenario.duration_s = duration;
        scenario.peak_window_s = kServeGenWindowS;
        scenario.scaling_note = fmt::format(
            "ServeGen DeepSeek-R1 day, every client's rate x {:.4f} so the busiest 10-minute window needs {:.0f}% "
            "of {} replicas at default settings",
            scenario.scale_factor, fraction * 100, options.gpus);
    } else {
        std::filesystem::path path;
        if (options.trace) {
            path = *options.trace;
            scenario.name = "trace:" + path.filename().string();
        } else {
            path = data_dir / "azure-llm-2023" /
                   (options.scenario == "azure-conv" ? "AzureLLMInferenceTrace_conv.csv"
                                                     : "AzureLLMInferenceTrace_code.csv");
            scenario.name = options.scenario;
        }
        auto recorded = read_trace_file(path);
        if (!recorded) return core::fail(recorded.error().message);
        if (recorded->empty()) return core::fail(fmt::format("trace {}: no requests", path.string()));
        const std::optional<double> fraction =
            options.trace ? options.scale_peak : std::optional<double>(options.scale_peak.value_or(kDefaultPeakFraction));
        scenario.peak_window_s = kTraceWindowS;
        if (fraction) {
            scenario.scale_factor =
                peak_scale_factor(*recorded, core::Seconds(kTraceWindowS), *fraction, options.gpus, cost);
            scenario.workload = scale_workload(*recorded, scenario.scale_factor, options.seed);
            scenario.scaling_note = fmt::format(
                "{} rate x {:.4f} (thinning or replication with jitter) so the busiest minute needs {:.0f}% of {} "
                "replicas at default settings",
                path.filename().string(), scenario.scale_factor, *fraction * 100, options.gpus);
        } else {
            scenario.workload = std::move(*recorded);
            scenario.scaling_note = fmt::format("{} replayed as recorded", path.filename().string());
        }
        scenario.duration_s = span_of(scenario.workload);
        if (options.duration_s) scenario.duration_s = std::min(scenario.duration_s, *options.duration_s);
    }
    if (scenario.source == nullptr) {
        // A recorded trace: held once, as the vector or (not materialised) inside the source.
        scenario.workload = cut(std::move(scenario.workload), scenario.duration_s);
        scenario.requests = scenario.workload.size();
        scenario.peak_demand_replicas =
            peak_demand(scenario.workload, core::Seconds(scenario.peak_window_s), cost).replicas_needed;
        if (options.materialize_workload) {
            scenario.source = workload_source(scenario.workload);
        } else {
            scenario.source = workload_source(std::move(scenario.workload));
            scenario.workload = Workload{};
        }
    } else if (options.materialize_workload) {
        // ServeGen's sample() and its streams already stop at the duration: no cut.
        scenario.requests = scenario.workload.size();
        scenario.peak_demand_replicas =
            peak_demand(scenario.workload, core::Seconds(scenario.peak_window_s), cost).replicas_needed;
    } else {
        scenario.peak_demand_replicas =
            peak_demand(*scenario.source->open(), core::Seconds(scenario.peak_window_s), cost, &scenario.requests)
                .replicas_needed;
    }
    return scenario;
}

}  // namespace joulepilot::twin
