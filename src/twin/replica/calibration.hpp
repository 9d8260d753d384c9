#pragma once
// Calibration: fits ReplicaModelParams to measured public data and reports the error on held-out rows.
// Sources (copied under data/, each with README and license):
//  - ML.ENERGY leaderboard v3, H100 Llama-3.1-8B-Instruct rows: J/token, power and median ITL vs batch cap;
//  - Argonne LLM-Inference-Bench: H100 power and throughput vs batch; fp8 vs fp16 throughput;
//  - Splitwise perf model: prefill time vs prompt size and decode iteration time vs batch (H100; scaled
//    from the 70B model by parameter count, as stated);
//  - Zeus/Perseus: shape of time and energy against SM clock (A100) and power limit (older GPUs).
// Where no public data covers an effect (H100 decode under a clock cap, parked power, wake delay), the
// stated assumption is listed in the report with its reason.

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "twin/replica/replica_model.hpp"

namespace joulepilot::twin {

struct FitError {
    std::string source;      // e.g. "mlenergy-v3 H100 Llama-3.1-8B"
    std::string quantity;    // e.g. "energy per token"
    std::size_t fit_rows = 0;
    std::size_t holdout_rows = 0;
    double holdout_mape = 0; // mean absolute percentage error on held-out rows, as a fraction
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

core::Result<CalibrationReport> calibrate(const std::filesystem::path& data_dir);

}  // namespace joulepilot::twin
