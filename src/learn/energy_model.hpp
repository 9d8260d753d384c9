#pragma once
// The learned energy/latency model of one serving replica: XGBoost gradient-boosted trees (Debian
// libxgboost, C API) predicting, from the replica's share of the load and its knob settings, its mean
// power, p99 TTFT, p99 TPOT and output throughput, each with a split-conformal upper bound
// (conformal.hpp). Latencies are learned in log space (they span four decades).
//
// Training (`joulepilot train model`) splits the exploration rows three ways: fit, calibration (the
// conformal quantiles) and test (the held-out error reported). The model file is one JSON document:
// format and version, the knob-space signature it was trained for, feature names, and per target the
// booster (XGBoost's own JSON model) and its conformal quantile. load() refuses a missing, corrupt or
// foreign file, or one trained for another knob space, with a message naming the file.
// Prediction is const and uses one thread; one model may be shared by threads (XGBoost's in-place
// prediction is thread-safe).

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace joulepilot::learn {

// Inputs, in this order, per row.
inline constexpr std::array<const char*, 7> kEnergyModelFeatures = {
    "rps_per_replica",       // requests/s arriving at the replica
    "prompt_tps_per_replica",  // prompt tokens/s arriving at the replica
    "gen_tps_per_replica",   // output tokens/s the replica is asked to generate
    "sm_clock_cap_mhz",      //
    "power_limit_w",         //
    "batch_cap",             //
    "fp8",                   // 0 = bf16, 1 = fp8
};
inline constexpr std::size_t kFeatureCount = kEnergyModelFeatures.size();

enum class Target : std::uint8_t { power_w = 0, p99_ttft_s = 1, p99_tpot_s = 2, throughput_tps = 3 };
inline constexpr std::size_t kTargetCount = 4;
const char* target_name(Target t);

struct ModelRow {
    std::array<float, kFeatureCount> x{};
    std::array<double, kTargetCount> y{};
};

struct TrainOptions {
    int rounds = 60;
    int max_depth = 6;
    double eta = 0.1;
    double calibration_fraction = 0.2;
    double test_fraction = 0.2;
    double alpha = 0.05;  // conformal miscoverage: upper bounds hold for 95% of points
    std::uint64_t seed = 1;
};

struct TargetError {
    double mae = 0;              // on the held-out test rows, in the target's unit
    double mape = 0;             // mean absolute percentage error
    double upper_coverage = 0;   // fraction of test rows with y <= the conformal upper bound
    double conformal_q = 0;      // the quantile over all calibration points (log units for latencies);
                                 // bounds use the per-bin quantiles (Mondrian, conformal.hpp)
};

struct TestReport {
    std::size_t fit_rows = 0;
    std::size_t calibration_rows = 0;
    std::size_t test_rows = 0;
    std::array<TargetError, kTargetCount> targets{};
};

struct Prediction {
    std::array<double, kTargetCount> point{};
    std::array<double, kTargetCount> upper{};  // conformal upper bound
};

class EnergyModel {
public:
    EnergyModel(EnergyModel&&) noexcept;
    EnergyModel& operator=(EnergyModel&&) noexcept;
    ~EnergyModel();

    // Needs at least 50 rows. `knob_space` is the signature of the knobs the rows explored.
    static core::Result<EnergyModel> train(std::span<const ModelRow> rows, std::string knob_space,
                                           const TrainOptions& options);
    // Refuses the file when it cannot be read or parsed, or when `expected_knob_space` is not empty and
    // differs from the one it was trained for.
    static core::Result<EnergyModel> load(const std::filesystem::path& path, const std::string& expected_knob_space);
    [[nodiscard]] core::Result<void> save(const std::filesystem::path& path) const;

    // `rows`: n rows of kFeatureCount features, row-major. `out` gets n predictions.
    [[nodiscard]] core::Result<void> predict(std::span<const float> rows, std::span<Prediction> out) const;
    // One target only (point and upper of `target` in each of the n outputs; the others untouched): lets a
    // search predict the cheap-to-reject targets first and only the survivors' remaining ones.
    [[nodiscard]] core::Result<void> predict_target(Target target, std::span<const float> rows,
                                                    std::span<Prediction> out) const;

    [[nodiscard]] const std::string& knob_space() const { return m_knob_space; }
    [[nodiscard]] const TestReport& test_report() const { return m_report; }

private:
    struct Impl;
    explicit EnergyModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
    std::string m_knob_space;
    TestReport m_report;
};

}  // namespace joulepilot::learn
