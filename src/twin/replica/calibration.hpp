#pragma once
// Calibration: fits ReplicaModelParams to measured public data and reports the error on held-out rows.
// Sources (copied under data/, each with README and license):
//  - ML.ENERGY leaderboard v3, H100 Llama-3.1-8B-Instruct rows: J/token, power and median ITL vs batch cap;
//  - Argonne LLM-Inference-Bench: H100 latency vs batch and length (context cost), fp8 vs fp16 latency
//    (fp8 speedups); its H100 power and latency are also predicted as a cross-check;
//  - Splitwise perf model: prefill time vs prompt size and batch (H100; scaled from the 70B model by
//    parameter count, as stated);
//  - Zeus/Perseus: shape of power and time against SM clock (A100); time against power limit (older GPUs)
//    as a cross-check of the power-limit mechanism.
// Where no public data covers an effect (H100 decode under a clock cap, parked power, wake delay), the
// stated assumption is listed in the report with its reason.
//
// Held-out rows: in each source, sorted as its loader sorts it (calibration_sources.hpp), every 4th row
// starting with the first is held out of the fit (so at least a quarter). Cross-checks fit nothing.

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "twin/replica/replica_model.hpp"

namespace joulepilot::twin {

struct FitError {
    std::string source;    // e.g. "mlenergy-v3 H100 Llama-3.1-8B"
    std::string quantity;  // e.g. "energy per token"
    std::size_t fit_rows = 0;
    std::size_t holdout_rows = 0;
    double holdout_mape = 0;  // mean absolute percentage error on held-out rows, as a fraction
    double fit_mape = 0;      // the same on the rows fitted (0 when fit_rows is 0)
    std::string note;         // e.g. "cross-check: nothing fitted to it"
};

struct Assumption {
    std::string effect;
    std::string value;
    std::string reason;
};

struct CalibrationReport {
    ReplicaModelParams params;
    std::vector<FitError> errors;
    std::vector<Assumption> assumptions;
};

struct CalibrationOptions {
    // Also read the cross-check data (Argonne All_results and power, Zeus power-limit sweeps) and report
    // how the model does on it. The fitted parameters never depend on it; ReplicaModel::calibrated leaves
    // it out to start faster.
    bool cross_checks = true;
};

core::Result<CalibrationReport> calibrate(const std::filesystem::path& data_dir,
                                          const CalibrationOptions& options = {});

// Mean prompt length of the ML.ENERGY lm-arena-chat requests (tokens). Not in the data: assumed, see the
// report's assumptions.
inline constexpr double kLmArenaMeanPromptTokens = 150;

// True for the rows held out of a fit: every 4th, starting with the first.
constexpr bool is_holdout_row(std::size_t index) { return index % 4 == 0; }

// One fitted parameter for display: name as in ReplicaModelParams, value in `unit`.
struct ParamEntry {
    std::string name;
    double value = 0;
    std::string unit;
    std::string meaning;
};
std::vector<ParamEntry> describe_params(const ReplicaModelParams& params);

}  // namespace joulepilot::twin
