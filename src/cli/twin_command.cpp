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
#include "cli/twin_run.hpp"
#include "core/civil_time.hpp"
#include "core/config.hpp"
#include "decide/registry.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/scenario.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {
namespace {

int twin_run(const TwinRunOptions& options, const CLI::App& cmd, const CommandContext& context) {
    core::ConfigDocument doc =
        options.config_path.empty() ? core::ConfigDocument::empty() : core::ConfigDocument::load(options.config_path);
    const ResolvedRun resolved = resolve_twin_run(options, cmd, doc);

    const TwinInputs inputs = load_twin_inputs(resolved, context.data_dir);
    const twin::ReplicaModel& model = inputs.model;
    const twin::FacilityModel& facility = inputs.facility;
    const twin::Scenario& scenario = inputs.scenario;
    const decide::PolicyContext policy_context = inputs.policy_context(resolved, context.data_dir);
    std::vector<std::unique_ptr<PolicyRun>> runs;
    for (const std::string& name : resolved.policies) {
        auto policy = decide::make_policy(name, doc.root().section("policy").section(name), policy_context);
        if (!policy) throw BadInput(policy.error().message);
        auto run = std::make_unique<PolicyRun>();
        run->name = name;
        run->policy = std::move(*policy);
        runs.push_back(std::move(run));
    }
    decide::read_policy_sections(doc.root().section("policy"), policy_context);
    doc.reject_unknown_keys();

    std::cerr << fmt::format("twin: {} | {} requests over {:.1f} h | {} x H100 SXM, Llama-3.1-8B | zone {}\n",
                             scenario.name, scenario.workload.size(), scenario.duration_s / 3600,
                             resolved.fleet.gpus, resolved.zone);
    std::cerr << fmt::format("twin: {}; busiest window needs {:.2f} of {} replicas\n", scenario.scaling_note,
                             scenario.peak_demand_replicas, resolved.fleet.gpus);

    // Policies run side by side on their own copy of the world; the models are shared read-only.
    std::vector<std::future<void>> futures;
    for (auto& run : runs) {
        futures.push_back(std::async(std::launch::async, [&run, &model, &facility, &resolved, &scenario] {
            run_one(*run, model, facility, resolved, scenario);
        }));
    }
    const bool tty = isatty(STDERR_FILENO) != 0;
    const auto interval = tty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10000);
    for (auto& f : futures) {
        while (options.progress && f.wait_for(interval) != std::future_status::ready) {
            show_progress(runs, scenario.duration_s, tty);
        }
    }
    for (auto& f : futures) f.get();  // rethrows a worker's exception here, on the owner's thread
    if (options.progress) {
        show_progress(runs, scenario.duration_s, tty);
        if (tty) std::cerr << "\n";
    }

    std::vector<twin::RunSummary> summaries;
    for (const auto& run : runs) summaries.push_back(run->summary);
    std::cout << fmt::format("\n{} | {} | {} GPUs | zone {}\n", scenario.name, scenario.scaling_note,
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
        out["scaling"] = scenario.scaling_note;
        std::ofstream file(options.json_path);
        file << out.dump(2) << "\n";
        if (!file) throw std::runtime_error("cannot write " + options.json_path);
        std::cerr << "wrote " << options.json_path << "\n";
    }
    if (!options.report_path.empty()) {
        std::ofstream file(options.report_path);
        file << render_report_html(summaries, fmt::format("joulepilot twin run: {}", scenario.name));
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
    add_twin_workload_options(*run, *options);
    run->add_option("--policy", options->policy, "Run one policy: static, threshold, idle-fsm, mpc (learned model), oracle (benchmarks only)");
    run->add_option("--compare", options->compare,
                    "Comma-separated policies to compare (default: static, threshold, idle-fsm)");
    run->add_option("--json", options->json_path, "Write the results as JSON to this file");
    run->add_option("--report", options->report_path, "Write a self-contained HTML report with plots");
    run->add_flag("!--no-progress", options->progress, "Do not show progress on stderr");
    run->callback([options, run, &context] {
        context.action = [options, run, &context] {
            // Errors are reported by the app's one guard (app.cpp): bad input exits 2, failures 1.
            return twin_run(*options, *run, context);
        };
    });
}

}  // namespace joulepilot::cli
