// `joulepilot train model`: learns the energy/latency model the mpc policy plans with, from exploration
// of the twin (random knob settings under a range of loads on the built-in scenarios, twin/exploration),
// and writes it to one file with its conformal quantiles and the knob-space signature. Prints the
// held-out test error per target. `joulepilot train rl` runs the PPO trainer (tools/train_rl), a separate
// executable because it links libtorch.
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "decide/fleet_plan.hpp"
#include "learn/energy_model.hpp"
#include "twin/exploration.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/scenario.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {
namespace {

struct TrainModelOptions {
    std::string out;
    std::size_t samples = 4000;
    std::uint64_t seed = 1;
    std::string scenarios = "default,azure-conv,azure-code";
    int rounds = 60;
    int threads = 2;
    // 80% upper bounds of a p99 measured over 10 minutes: a 95% bound of a 2-minute p99 (one of a few dozen
    // requests) was wider than the SLO for every consolidating candidate (docs/benchmarks.md, issue 6).
    double alpha = 0.2;      // conformal miscoverage of the upper bounds
    double measure_s = 600;  // how long each exploration sample measures one replica
};

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    for (char c : text + ",") {
        if (c == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    return out;
}

int train_model(const TrainModelOptions& o, const CommandContext& context) {
    auto model = twin::ReplicaModel::calibrated(context.data_dir);
    if (!model) {
        std::cerr << "error: replica model: " << model.error().message << "\n";
        return kExitBadInput;
    }
    const twin::GpuSettings defaults;
    std::vector<twin::Workload> workloads;
    for (const std::string& name : split(o.scenarios)) {
        const auto names = twin::scenario_names();
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            std::cerr << fmt::format("error: --scenarios: '{}' is not one of: {}\n", name, fmt::join(names, ", "));
            return kExitBadInput;
        }
        twin::ScenarioOptions options;
        options.scenario = name;
        options.seed = o.seed;
        auto scenario = twin::build_scenario(options, *model, defaults, context.data_dir);
        if (!scenario) {
            std::cerr << "error: " << scenario.error().message << "\n";
            return kExitBadInput;
        }
        workloads.push_back(std::move(scenario->workload));
    }
    if (workloads.empty()) {
        std::cerr << "error: --scenarios names no scenario\n";
        return kExitBadInput;
    }

    // The knob space the rows explore is the twin's (one fleet's actuator, signature per replica).
    act::KnobSpace knobs;
    {
        auto facility = twin::FacilityModel::load(context.data_dir, "US-CAL-CISO", {}, {});
        if (!facility) {
            std::cerr << "error: " << facility.error().message << "\n";
            return kExitBadInput;
        }
        twin::FleetConfig fleet;
        fleet.gpus = 1;
        twin::TwinWorld world(*model, *facility, fleet, {}, 0);
        for (act::Knob& k : world.actuator().discover()) knobs.add(std::move(k));
    }

    std::cerr << fmt::format("train: exploring {} random settings x loads on {} on the twin ({} threads)\n",
                             o.samples, o.scenarios, o.threads);
    std::vector<learn::ModelRow> rows(o.samples);
    std::atomic<std::size_t> next{0};
    twin::ExplorationOptions exploration;
    exploration.measure_s = o.measure_s;
    auto worker = [&] {
        for (std::size_t i = next++; i < rows.size(); i = next++) {
            const twin::Workload& w = workloads[i % workloads.size()];
            rows[i] = twin::explore_one(*model, w, o.seed, i, exploration);
        }
    };
    std::vector<std::future<void>> workers;
    for (int t = 0; t < std::max(1, o.threads); ++t) workers.push_back(std::async(std::launch::async, worker));
    for (auto& w : workers) w.get();

    learn::TrainOptions train;
    train.rounds = o.rounds;
    train.seed = o.seed;
    train.alpha = o.alpha;
    auto trained = learn::EnergyModel::train(rows, decide::knob_space_signature(knobs), train);
    if (!trained) {
        std::cerr << "error: " << trained.error().message << "\n";
        return kExitFailure;
    }
    const learn::TestReport& report = trained->test_report();
    std::cout << fmt::format("energy model: {} fit, {} calibration, {} held-out test rows (split-conformal, "
                             "upper bounds at {:.0f}%)\n",
                             report.fit_rows, report.calibration_rows, report.test_rows, 100 * (1 - o.alpha));
    std::cout << fmt::format("{:<16} {:>12} {:>10} {:>22}\n", "target", "test MAE", "test MAPE",
                             "upper-bound coverage");
    for (std::size_t t = 0; t < learn::kTargetCount; ++t) {
        const auto& e = report.targets[t];
        std::cout << fmt::format("{:<16} {:>12.4g} {:>9.1f}% {:>21.1f}%\n",
                                 learn::target_name(static_cast<learn::Target>(t)), e.mae, 100 * e.mape,
                                 100 * e.upper_coverage);
    }
    const std::string out = o.out.empty() ? context.data_dir + "/models/energy_model.json" : o.out;
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(out).parent_path(), ignored);
    if (auto ok = trained->save(out); !ok) {
        std::cerr << "error: " << ok.error().message << "\n";
        return kExitFailure;
    }
    std::cerr << "wrote " << out << "\n";
    return kExitOk;
}

struct TrainRlOptions {
    std::string out;
    double minutes = 20;
    std::uint64_t seed = 1;
    std::string curve;
};

// `train rl` runs the PPO trainer, a separate executable (it links libtorch, which the agent must not),
// installed next to this binary. It replaces this process, so its output and exit status are the user's.
int train_rl(const TrainRlOptions& o, const CommandContext& context) {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::filesystem::path trainer = self.parent_path() / "joulepilot-train-rl";
    if (ec || !std::filesystem::exists(trainer)) {
        std::cerr << fmt::format("train rl: the trainer {} is not there; it is built only where libtorch is installed "
                                 "(Debian libtorch-dev): `cmake --build <build> --target joulepilot-train-rl`\n",
                                 trainer.string());
        return kExitFailure;
    }
    const std::string out = o.out.empty() ? context.data_dir + "/models/rl_policy.json" : o.out;
    std::vector<std::string> args = {trainer.string(), "--data-dir", context.data_dir, "--out", out,
                                     "--minutes", fmt::format("{}", o.minutes), "--seed", std::to_string(o.seed)};
    if (!o.curve.empty()) {
        args.emplace_back("--curve");
        args.push_back(o.curve);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::cout.flush();
    execv(trainer.c_str(), argv.data());
    std::cerr << fmt::format("train rl: cannot run {}: {}\n", trainer.string(), std::strerror(errno));
    return kExitFailure;
}

}  // namespace

void add_train_command(CLI::App& app, CommandContext& context) {
    CLI::App* train = app.add_subcommand("train", "Learn the models the policies decide with");
    train->require_subcommand(1);
    CLI::App* model = train->add_subcommand(
        "model", "Learn the energy/latency model (XGBoost + split-conformal bounds) of the mpc policy from "
                 "exploration of the twin");
    auto options = std::make_shared<TrainModelOptions>();
    model->add_option("--out", options->out, "Model file to write (default: <data-dir>/models/energy_model.json)");
    model->add_option("--samples", options->samples, "Exploration samples (random setting x load)")
        ->check(CLI::Range(50, 1000000))
        ->capture_default_str();
    model->add_option("--seed", options->seed, "Random seed")->capture_default_str();
    model->add_option("--scenarios", options->scenarios, "Workloads explored (comma-separated)")->capture_default_str();
    model->add_option("--rounds", options->rounds, "Boosting rounds per target")
        ->check(CLI::Range(1, 5000))
        ->capture_default_str();
    model->add_option("--alpha", options->alpha,
                      "Conformal miscoverage: the upper bounds hold for (1 - alpha) of held-out points")
        ->check(CLI::Range(0.001, 0.5))
        ->capture_default_str();
    model->add_option("--measure", options->measure_s,
                      "Seconds each exploration sample measures one replica (longer: steadier p99 labels)")
        ->check(CLI::Range(10.0, 3600.0))
        ->capture_default_str();
    model->add_option("--threads", options->threads, "Exploration threads")->check(CLI::Range(1, 64))->capture_default_str();
    model->callback([options, &context] {
        context.action = [options, &context] { return train_model(*options, context); };
    });

    CLI::App* rl = train->add_subcommand(
        "rl", "Train the rl policy (PPO, libtorch) in the twin; runs the joulepilot-train-rl executable");
    auto rl_options = std::make_shared<TrainRlOptions>();
    rl->add_option("--out", rl_options->out, "Weights file to write (default: <data-dir>/models/rl_policy.json)");
    rl->add_option("--minutes", rl_options->minutes, "Wall-clock training budget")
        ->check(CLI::Range(0.1, 600.0))
        ->capture_default_str();
    rl->add_option("--seed", rl_options->seed, "Random seed")->capture_default_str();
    rl->add_option("--curve", rl_options->curve, "Write the learning curve as CSV to this file");
    rl->callback([rl_options, &context] {
        context.action = [rl_options, &context] { return train_rl(*rl_options, context); };
    });
}

}  // namespace joulepilot::cli
