#pragma once
// What `joulepilot twin run` and `joulepilot bench` share: the workload, fleet and loop options, their
// resolution against the config file, and running one policy on its own copy of the twin.

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "act/shield/shield_settings.hpp"
#include "act/shield/safety_shield.hpp"
#include "agent/agent_loop.hpp"
#include "cli/command.hpp"
#include "core/config.hpp"
#include "decide/policy.hpp"
#include "decide/policy_context.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/fleet/fleet_sim.hpp"
#include "twin/run_summary.hpp"
#include "twin/scenario.hpp"

namespace joulepilot::cli {

// The default simulated day starts at local midnight in California (07:00 UTC in summer), so the
// day's load lines up with the default zone's local day.
inline constexpr const char* kDefaultStart = "2023-06-14T07:00:00Z";
inline constexpr double kDrainLimitS = 600;  // after the last arrival, let in-flight requests finish for up to this

struct TwinRunOptions {
    std::string config_path;
    std::string scenario = "default";
    std::string trace;
    std::optional<double> scale_peak;
    int gpus = 8;
    std::string policy;
    std::string compare;
    std::string zone = "US-CAL-CISO";
    std::uint64_t seed = 1;
    std::string duration;
    std::string start = kDefaultStart;
    double slo_ttft_s = 1.0;
    double slo_tpot_s = 0.1;
    double sense_interval_s = 1.0;
    double decide_interval_s = 10.0;
    std::string json_path;
    std::string report_path;
    bool progress = true;
};

struct ResolvedRun {
    twin::ScenarioOptions scenario;
    std::vector<std::string> policies;
    std::string zone;
    double start_unix_s = 0;
    twin::FleetConfig fleet;
    agent::LoopSettings loop;
    act::ShieldSettings shield;  // [shield]; the twin acts on every knob unless the config narrows it
    twin::PueModel pue;
    twin::Tariff tariff;
};



struct PolicyRun {
    std::string name;
    std::unique_ptr<decide::Policy> policy;
    std::atomic<double> simulated_s{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<double> energy_j{0};
    twin::RunSummary summary;
};


// Registers --config, --scenario, --trace, --scale-peak, --gpus, --zone, --seed,
// --duration, --start, --slo-ttft, --slo-tpot, --sense-interval and --decide-interval.
void add_twin_workload_options(CLI::App& cmd, TwinRunOptions& options);
std::vector<std::string> split_list(const std::string& text);
// Config file values first, then every option given on the command line overrides them.
ResolvedRun resolve_twin_run(const TwinRunOptions& o, const CLI::App& cmd, core::ConfigDocument& doc);
// What a twin run loads from the data folder: the calibrated replica model, the facility (zone, PUE,
// tariff) and the scenario with its workload. Throws BadInput naming what is missing or empty.
struct TwinInputs {
    twin::ReplicaModel model;
    twin::FacilityModel facility;
    twin::Scenario scenario;
    // The policies' context over these inputs (the oracle reads the replica model and the workload: perfect
    // knowledge of the load); it points into this object, so take it once the object is in its final place.
    [[nodiscard]] decide::PolicyContext policy_context(const ResolvedRun& resolved,
                                                       const std::string& data_dir) const;
};
TwinInputs load_twin_inputs(const ResolvedRun& resolved, const std::string& data_dir);
// Runs one policy over the scenario (plus up to kDrainLimitS for in-flight requests) on its own twin.
void run_one(PolicyRun& run, const twin::ReplicaModel& model, const twin::FacilityModel& facility,
             const ResolvedRun& resolved, const twin::Scenario& scenario);
// One progress line per policy on stderr.
void show_progress(const std::vector<std::unique_ptr<PolicyRun>>& runs, double duration_s, bool tty);

}  // namespace joulepilot::cli
