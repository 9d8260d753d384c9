// `joulepilot calibrate`: fits the replica model to the shipped measurements and shows how well it fits.
// Thin: the work is twin::calibrate (src/twin/replica/calibration.hpp); this file only formats it.

#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "twin/replica/calibration.hpp"

namespace joulepilot::cli {
namespace {

struct CalibrateOptions {
    std::string json_path;
};

void print_report(std::ostream& out, const twin::CalibrationReport& report, const std::string& data_dir) {
    out << "Replica model calibration: Llama-3.1-8B-Instruct on one H100 SXM (vLLM continuous batching)\n";
    out << "data: " << data_dir << "\n\n";

    out << "Fitted parameters\n";
    for (const auto& p : twin::describe_params(report.params)) {
        out << fmt::format("  {:<26} {:>12.7g} {:<7} {}\n", p.name, p.value, p.unit, p.meaning);
    }

    out << "\nError against measurements, per source (MAPE: mean absolute percentage error; held-out rows\n"
           "were left out of every fit; a cross-check fits nothing)\n";
    std::string source;
    for (const auto& e : report.errors) {
        if (e.source != source) {
            source = e.source;
            out << "  " << source << "\n";
        }
        const std::string fit =
            e.fit_rows == 0 ? std::string("-") : fmt::format("{:.1f}% on {}", 100 * e.fit_mape, e.fit_rows);
        out << fmt::format("    {:<58} fit {:<12} held out {:.1f}% on {}\n", e.quantity, fit,
                           100 * e.holdout_mape, e.holdout_rows);
        if (!e.note.empty()) out << fmt::format("      ({})\n", e.note);
    }

    out << "\nAssumptions (effects the data does not cover, and how the data was read)\n";
    for (const auto& a : report.assumptions) {
        out << fmt::format("  - {}: {}\n      why: {}\n", a.effect, a.value, a.reason);
    }
}

nlohmann::json report_to_json(const twin::CalibrationReport& report, const std::string& data_dir) {
    nlohmann::json out;
    out["data_dir"] = data_dir;
    out["params"] = nlohmann::json::object();
    for (const auto& p : twin::describe_params(report.params)) {
        out["params"][p.name] = {{"value", p.value}, {"unit", p.unit}, {"meaning", p.meaning}};
    }
    out["errors"] = nlohmann::json::array();
    for (const auto& e : report.errors) {
        out["errors"].push_back({{"source", e.source},
                                 {"quantity", e.quantity},
                                 {"fit_rows", e.fit_rows},
                                 {"holdout_rows", e.holdout_rows},
                                 {"fit_mape", e.fit_mape},
                                 {"holdout_mape", e.holdout_mape},
                                 {"note", e.note}});
    }
    out["assumptions"] = nlohmann::json::array();
    for (const auto& a : report.assumptions) {
        out["assumptions"].push_back({{"effect", a.effect}, {"value", a.value}, {"reason", a.reason}});
    }
    return out;
}

int run_calibrate(const CalibrateOptions& options, const std::string& data_dir) {
    const auto report = twin::calibrate(data_dir);
    if (!report) {
        std::cerr << "error: calibrate: " << report.error().message << "\n";
        return kExitBadInput;
    }
    print_report(std::cout, *report, data_dir);
    if (!options.json_path.empty()) {
        std::ofstream file(options.json_path);
        file << report_to_json(*report, data_dir).dump(2) << "\n";
        if (!file) {
            std::cerr << "error: calibrate: cannot write " << options.json_path << "\n";
            return kExitFailure;
        }
        std::cerr << "wrote " << options.json_path << "\n";
    }
    return kExitOk;
}

}  // namespace

void add_calibrate_command(CLI::App& app, CommandContext& context) {
    CLI::App* calibrate = app.add_subcommand(
        "calibrate",
        "Fit the digital twin's replica model (Llama-3.1-8B on one H100: decode and prefill time, power vs\n"
        "batch, SM clock, power limit and precision) to the measured public data in the data folder\n"
        "(ML.ENERGY v3, Argonne LLM-Inference-Bench, Splitwise, Zeus/Perseus) and report the fitted\n"
        "parameters, the error on held-out rows per source and quantity, and every assumption made where\n"
        "the data says nothing. Exit status 2 when a data file is missing or malformed.");
    auto options = std::make_shared<CalibrateOptions>();
    calibrate->add_option("--json", options->json_path, "Also write the report as JSON to this file")
        ->option_text("FILE");
    calibrate->callback([options, &context] {
        context.action = [options, &context] { return run_calibrate(*options, context.data_dir); };
    });
}

}  // namespace joulepilot::cli
