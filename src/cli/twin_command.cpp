// `joulepilot twin run`: replays a workload on the digital twin with one or more policies driving the
// same agent loop a real node runs, and reports energy, SLO, carbon and cost per policy.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "act/shield/safety_shield.hpp"
#include "agent/agent_loop.hpp"
#include "cli/command.hpp"
#include "cli/report_html.hpp"
#include "cli/run_output.hpp"
#include "core/civil_time.hpp"
#include "core/config.hpp"
#include "decide/registry.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/scenario.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {
namespace {

// The default simulated day starts at local midnight in California (07:00 UTC in summer), so the
// day's load lines up with the default zone's local day.
constexpr const char* kDefaultStart = "2023-06-14T07:00:00Z";
constexpr double kDrainLimitS = 600;  // after the last arrival, let in-flight requests finish for up to this

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
    twin::PueModel pue;
    twin::Tariff tariff;
};

class BadInput : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    for (char c : text) {
        if (c == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    if (!item.empty()) out.push_back(item);
    return out;
}

// Config file values first, then every option given on the command line overrides them.
ResolvedRun resolve(const TwinRunOptions& o, const CLI::App& cmd, core::ConfigDocument& doc) {
    auto given = [&cmd](const char* name) { return cmd.count(name) > 0; };
    const core::ConfigSection root = doc.root();
    const core::ConfigSection twin = root.section("twin");
    const core::ConfigSection slo = root.section("slo");
    ResolvedRun r;

    std::vector<std::string> scenarios = twin::scenario_names();
    r.scenario.scenario = given("--scenario") ? o.scenario : twin.string("scenario", o.scenario, scenarios);
    if (given("--scenario")) {
        if (std::find(scenarios.begin(), scenarios.end(), o.scenario) == scenarios.end()) {
            throw BadInput(fmt::format("--scenario '{}' is not one of: {}", o.scenario, fmt::join(scenarios, ", ")));
        }
    }
    const std::string trace = given("--trace") ? o.trace : twin.string("trace", "");
    if (!trace.empty()) r.scenario.trace = trace;
    if (given("--scale-peak")) {
        r.scenario.scale_peak = o.scale_peak;
    } else if (twin.has("scale_peak")) {
        r.scenario.scale_peak = twin.number("scale_peak", 0.75, 0.01, 10);
    }
    r.scenario.gpus = given("--gpus") ? o.gpus : static_cast<int>(twin.integer("gpus", o.gpus, 1, 1024));
    r.scenario.seed = given("--seed") ? o.seed : static_cast<std::uint64_t>(twin.integer("seed", 1, 0, INT64_MAX));
    const std::string duration = given("--duration") ? o.duration : twin.string("duration", "");
    if (!duration.empty()) {
        auto seconds = core::parse_duration_s(duration);
        if (!seconds) throw BadInput("--duration: " + seconds.error().message);
        r.scenario.duration_s = *seconds;
    }
    r.zone = given("--zone") ? o.zone : twin.string("zone", o.zone, twin::known_zones());
    const std::string start = given("--start") ? o.start : twin.string("start", o.start);
    auto start_unix = core::parse_utc_timestamp(start);
    if (!start_unix) throw BadInput("--start: " + start_unix.error().message);
    r.start_unix_s = *start_unix;

    r.fleet.gpus = r.scenario.gpus;
    r.fleet.slo_ttft_s = given("--slo-ttft") ? o.slo_ttft_s : slo.number("ttft_s", o.slo_ttft_s, 0.001, 3600);
    r.fleet.slo_tpot_s = given("--slo-tpot") ? o.slo_tpot_s : slo.number("tpot_s", o.slo_tpot_s, 0.0001, 60);
    r.loop.constraints.slo_ttft = core::Seconds(r.fleet.slo_ttft_s);
    r.loop.constraints.slo_tpot = core::Seconds(r.fleet.slo_tpot_s);
    r.loop.constraints.slo_target = slo.number("target", 0.99, 0.0, 1.0);
    r.loop.sense_interval =
        core::Seconds(given("--sense-interval") ? o.sense_interval_s
                                                : twin.number("sense_interval_s", o.sense_interval_s, 0.1, 3600));
    r.loop.decide_interval =
        core::Seconds(given("--decide-interval") ? o.decide_interval_s
                                                 : twin.number("decide_interval_s", o.decide_interval_s, 0.1, 86400));
    if (r.loop.decide_interval < r.loop.sense_interval) {
        throw BadInput("the decide interval must be at least the sense interval");
    }

    const core::ConfigSection pue = root.section("pue");
    r.pue.fixed_overhead = pue.number("fixed_overhead", r.pue.fixed_overhead, 0, 1);
    r.pue.min_load = pue.number("min_load", r.pue.min_load, 0.01, 1);
    r.pue.cooling_base = pue.number("cooling_base", r.pue.cooling_base, 0, 2);
    r.pue.cooling_per_degree = pue.number("cooling_per_degree", r.pue.cooling_per_degree, 0, 0.2);
    r.pue.free_cooling_c = pue.number("free_cooling_c", r.pue.free_cooling_c, -50, 60);
    const core::ConfigSection tariff = root.section("tariff");
    r.tariff.offpeak_usd_per_kwh = tariff.number("offpeak_usd_per_kwh", r.tariff.offpeak_usd_per_kwh, 0, 100);
    r.tariff.peak_usd_per_kwh = tariff.number("peak_usd_per_kwh", r.tariff.peak_usd_per_kwh, 0, 100);
    r.tariff.peak_start_hour = static_cast<int>(tariff.integer("peak_start_hour", r.tariff.peak_start_hour, 0, 24));
    r.tariff.peak_end_hour = static_cast<int>(tariff.integer("peak_end_hour", r.tariff.peak_end_hour, 0, 24));

    if (given("--policy") && given("--compare")) throw BadInput("give either --policy or --compare, not both");
    if (given("--policy")) {
        r.policies = {o.policy};
    } else if (given("--compare")) {
        r.policies = split_list(o.compare);
        if (r.policies.empty()) throw BadInput("--compare needs a comma-separated list of policies");
    } else {
        const std::string from_config = twin.string("policies", "");
        r.policies = from_config.empty() ? decide::policy_names() : split_list(from_config);
    }
    return r;
}

struct PolicyRun {
    std::string name;
    std::unique_ptr<decide::Policy> policy;
    std::atomic<double> simulated_s{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<double> energy_j{0};
    twin::RunSummary summary;
};

void run_one(PolicyRun& run, const twin::ReplicaModel& model, const twin::FacilityModel& facility,
             const ResolvedRun& resolved, const twin::Scenario& scenario) {
    const auto wall_start = std::chrono::steady_clock::now();
    twin::TwinWorld world(model, facility, resolved.fleet, scenario.workload, resolved.start_unix_s);
    // The twin is simulated hardware: the shield acts on it (a real node defaults to observe-only).
    act::SafetyShield shield({&world.actuator()}, act::ShieldMode::act);
    agent::AgentLoop loop(world.clock(), {&world.sensor()}, shield, *run.policy, resolved.loop);
    const double step = std::max(60.0, scenario.duration_s / 200);
    double t = 0;
    const double end = scenario.duration_s + kDrainLimitS;
    while (t < end) {
        t = std::min(end, t + step);
        loop.run_until(core::Seconds(t));
        run.simulated_s = world.fleet().now();
        run.requests = world.fleet().arrivals();
        run.energy_j = world.fleet().total_it_energy_j();
        if (t >= scenario.duration_s && world.fleet().drained()) break;
    }
    world.fleet().close_partial_bucket();
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    run.summary = world.summarize(scenario.name, run.name, wall_s);
    run.summary.decisions = loop.stats().decisions;
}

void show_progress(const std::vector<std::unique_ptr<PolicyRun>>& runs, double duration_s, bool tty) {
    std::string line;
    for (const auto& run : runs) {
        const double fraction = std::min(1.0, run->simulated_s / std::max(1.0, duration_s));
        const int filled = static_cast<int>(fraction * 20);
        line += fmt::format("{} [{}{}] {:5.1f}h {:>8} req {:>8.1f} kWh  ", run->name, std::string(filled, '#'),
                            std::string(20 - filled, '.'), run->simulated_s / 3600, run->requests.load(),
                            core::to_kwh(core::Joules(run->energy_j)));
    }
    if (tty) {
        std::cerr << "\r" << line << std::flush;
    } else {
        std::cerr << line << "\n";
    }
}

int twin_run(const TwinRunOptions& options, const CLI::App& cmd, const CommandContext& context) {
    core::ConfigDocument doc =
        options.config_path.empty() ? core::ConfigDocument::empty() : core::ConfigDocument::load(options.config_path);
    const ResolvedRun resolved = resolve(options, cmd, doc);

    std::vector<std::unique_ptr<PolicyRun>> runs;
    for (const std::string& name : resolved.policies) {
        auto policy = decide::make_policy(name, doc.root().section("policy").section(name));
        if (!policy) throw BadInput(policy.error().message);
        auto run = std::make_unique<PolicyRun>();
        run->name = name;
        run->policy = std::move(*policy);
        runs.push_back(std::move(run));
    }
    doc.reject_unknown_keys();

    auto model = twin::ReplicaModel::calibrated(context.data_dir);
    if (!model) throw BadInput("replica model: " + model.error().message);
    auto facility = twin::FacilityModel::load(context.data_dir, resolved.zone, resolved.pue, resolved.tariff);
    if (!facility) throw BadInput(facility.error().message);
    auto scenario = twin::build_scenario(resolved.scenario, *model, resolved.fleet.defaults, context.data_dir);
    if (!scenario) throw BadInput(scenario.error().message);
    if (scenario->workload.empty()) throw BadInput("the workload has no requests in the chosen duration");

    std::cerr << fmt::format("twin: {} | {} requests over {:.1f} h | {} x H100 SXM, Llama-3.1-8B | zone {}\n",
                             scenario->name, scenario->workload.size(), scenario->duration_s / 3600,
                             resolved.fleet.gpus, resolved.zone);
    std::cerr << fmt::format("twin: {}; busiest window needs {:.2f} of {} replicas\n", scenario->scaling_note,
                             scenario->peak_demand_replicas, resolved.fleet.gpus);

    // Policies run side by side on their own copy of the world; the models are shared read-only.
    std::vector<std::future<void>> futures;
    for (auto& run : runs) {
        futures.push_back(std::async(std::launch::async, [&run, &model, &facility, &resolved, &scenario] {
            run_one(*run, *model, *facility, resolved, *scenario);
        }));
    }
    const bool tty = isatty(STDERR_FILENO) != 0;
    const auto interval = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10000);
    for (auto& f : futures) {
        while (options.progress && f.wait_for(interval) != std::future_status::ready) {
            show_progress(runs, scenario->duration_s, tty);
        }
    }
    for (auto& f : futures) f.get();  // rethrows a worker's exception here, on the owner's thread
    if (options.progress) {
        show_progress(runs, scenario->duration_s, tty);
        if (tty) std::cerr << "\n";
    }

    std::vector<twin::RunSummary> summaries;
    for (const auto& run : runs) summaries.push_back(run->summary);
    std::cout << fmt::format("\n{} | {} | {} GPUs | zone {}\n", scenario->name, scenario->scaling_note,
                             resolved.fleet.gpus, resolved.zone);
    std::cout << format_run_table(summaries, resolved.fleet.slo_ttft_s, resolved.fleet.slo_tpot_s);

    if (!options.json_path.empty()) {
        nlohmann::json out;
        if (summaries.size() == 1 && cmd.count("--compare") == 0) {
            out = summary_to_json(summaries.front(), true);
        } else {
            out["results"] = nlohmann::json::array();
            for (const auto& s : summaries) out["results"].push_back(summary_to_json(s, true));
        }
        out["scaling"] = scenario->scaling_note;
        std::ofstream file(options.json_path);
        file << out.dump(2) << "\n";
        if (!file) throw std::runtime_error("cannot write " + options.json_path);
        std::cerr << "wrote " << options.json_path << "\n";
    }
    if (!options.report_path.empty()) {
        std::ofstream file(options.report_path);
        file << render_report_html(summaries, fmt::format("joulepilot twin run: {}", scenario->name));
        if (!file) throw std::runtime_error("cannot write " + options.report_path);
        std::cerr << "wrote " << options.report_path << "\n";
    }
    return kExitOk;
}

}  // namespace

void add_twin_command(CLI::App& app, CommandContext& context) {
    CLI::App* twin = app.add_subcommand("twin", "The digital twin of an LLM serving fleet");
    twin->require_subcommand(1);
    CLI::App* run = twin->add_subcommand(
        "run",
        "Replay a day of LLM serving on simulated H100s and compare policies on energy, SLO, carbon and cost.\n"
        "With no options: the `default` scenario (a real production day from ServeGen, 8 GPUs) under the\n"
        "static, threshold and idle-fsm policies.");
    auto options = std::make_shared<TwinRunOptions>();
    run->add_option("--config", options->config_path, "TOML config file (docs/config.md); options override it")
        ->check(CLI::ExistingFile);
    run->add_option("--scenario", options->scenario,
                    "default (ServeGen DeepSeek-R1 day), azure-conv or azure-code (Azure LLM trace 2023, 1 h)")
        ->capture_default_str();
    run->add_option("--trace", options->trace,
                    "Replay this trace instead: Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or JSONL "
                    "({\"timestamp\": ms, \"input_length\": n, \"output_length\": m})")
        ->check(CLI::ExistingFile);
    run->add_option("--scale-peak", options->scale_peak,
                    "Scale the request rate so the busiest window needs this fraction of the fleet at default "
                    "settings (default scenarios: 0.75; a --trace replays as recorded unless given)")
        ->check(CLI::Range(0.01, 10.0));
    run->add_option("--gpus", options->gpus, "Simulated H100 GPUs, one replica each")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    run->add_option("--policy", options->policy, "Run one policy: static, threshold, idle-fsm");
    run->add_option("--compare", options->compare,
                    "Comma-separated policies to compare (default: every policy)");
    run->add_option("--zone", options->zone,
                    "Grid zone for carbon intensity and weather: US-CAL-CISO, US-TEX-ERCO, US-MIDA-PJM, DE-LU, GB")
        ->capture_default_str();
    run->add_option("--seed", options->seed, "Random seed of the workload sampler")->capture_default_str();
    run->add_option("--duration", options->duration,
                    "Simulate only the first part of the workload: seconds or 90m, 6h, 1d (default: all of it)");
    run->add_option("--start", options->start,
                    "UTC time simulated second 0 stands for (sets carbon, price and weather hours)")
        ->capture_default_str();
    run->add_option("--slo-ttft", options->slo_ttft_s, "SLO on time to first token, seconds")
        ->check(CLI::Range(0.001, 3600.0))
        ->capture_default_str();
    run->add_option("--slo-tpot", options->slo_tpot_s, "SLO on mean time per output token, seconds")
        ->check(CLI::Range(0.0001, 60.0))
        ->capture_default_str();
    run->add_option("--sense-interval", options->sense_interval_s, "Seconds between observations")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    run->add_option("--decide-interval", options->decide_interval_s, "Seconds between decisions")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    run->add_option("--json", options->json_path, "Write the results as JSON to this file");
    run->add_option("--report", options->report_path, "Write a self-contained HTML report with plots");
    run->add_flag("!--no-progress", options->progress, "Do not show progress on stderr");
    run->callback([options, run, &context] {
        context.action = [options, run, &context] {
            try {
                return twin_run(*options, *run, context);
            } catch (const core::ConfigError& e) {
                std::cerr << "error: " << e.what() << "\n";
                return kExitBadInput;
            } catch (const BadInput& e) {
                std::cerr << "error: " << e.what() << "\n";
                return kExitBadInput;
            } catch (const std::exception& e) {
                std::cerr << "error: " << e.what() << "\n";
                return kExitFailure;
            }
        };
    });
}

}  // namespace joulepilot::cli
