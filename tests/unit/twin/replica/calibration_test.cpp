// calibrate() on the shipped data: the fit is good on held-out ML.ENERGY rows (checked here
// independently of the report), the report lists every source and assumption, and bad data is an error
// that names the file.

#include <algorithm>
#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "twin/replica/calibration.hpp"
#include "twin/replica/calibration_sources.hpp"
#include "unit/twin/replica/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr double kTargetMape = 0.15;

const CalibrationReport& shipped_report() {
    static const CalibrationReport report = [] {
        auto r = calibrate(test::data_dir());
        if (!r) throw std::runtime_error(r.error().message);
        return *r;
    }();
    return report;
}

const FitError* find_error(const CalibrationReport& report, std::string_view source_prefix,
                           std::string_view quantity) {
    for (const auto& e : report.errors) {
        if (e.source.rfind(source_prefix, 0) == 0 && e.quantity == quantity) return &e;
    }
    return nullptr;
}

TEST(Calibration, FitsShippedData) {
    ASSERT_NO_THROW(shipped_report());
    const auto& p = shipped_report().params;
    // Physically plausible for Llama-3.1-8B on an H100 (weights 16 GB at 3.35 TB/s take ~5 ms).
    EXPECT_GT(p.decode_base_s, 4e-3);
    EXPECT_LT(p.decode_base_s, 10e-3);
    EXPECT_GT(p.decode_per_seq_s, 0);
    EXPECT_GT(p.decode_per_ctx_token_s, 0);
    EXPECT_LT(p.decode_compute_per_seq_s, p.decode_per_seq_s);
    EXPECT_GT(p.prefill_per_token_s, 10e-6);  // under ~50% of H100 bf16 peak: 16 GFLOP per token
    EXPECT_LT(p.prefill_per_token_s, 100e-6);
    EXPECT_GT(p.fp8_decode_speedup, 1.0);
    EXPECT_GE(p.fp8_prefill_speedup, 1.0);
    EXPECT_GE(p.fp8_kv_speedup, 1.0);
    EXPECT_GT(p.power_floor_w, p.idle_power_w);
    EXPECT_LE(p.power_floor_w + p.power_span_w, 700.0);  // default runs are never power-limited
    EXPECT_GT(p.static_power_w, 0);
    EXPECT_LT(p.static_power_w, p.power_floor_w);
    EXPECT_GT(p.clock_exponent, 1.0);
    EXPECT_GT(p.fp8_kv_capacity_tokens, 2 * p.kv_capacity_tokens - 1);
}

TEST(Calibration, TargetHeldOutErrorIsWithinBound) {
    const auto& report = shipped_report();
    for (const char* quantity : {"energy per token", "median ITL"}) {
        const FitError* e = find_error(report, "mlenergy", quantity);
        ASSERT_NE(e, nullptr) << quantity;
        EXPECT_GE(e->holdout_rows * 4, e->fit_rows + e->holdout_rows) << "at least a quarter held out";
        EXPECT_GT(e->fit_rows, e->holdout_rows);
        EXPECT_LE(e->holdout_mape, kTargetMape) << quantity;
    }
}

// Recomputes the held-out errors from the data and the model alone, with the run model the report
// states: each request's prompt prefilled once, `out` decode iterations of the full batch.
TEST(Calibration, HeldOutMlEnergyRowsIndependently) {
    const auto& report = shipped_report();
    const ReplicaModel model(report.params);
    const auto rows =
        load_mlenergy_h100_llama8b(test::data_dir() / "mlenergy-leaderboard-v3/llm_configs.csv");
    ASSERT_TRUE(rows.has_value()) << rows.error().message;
    const GpuSettings defaults;
    double energy_sum = 0;
    double itl_sum = 0;
    int held_out = 0;
    for (std::size_t i = 0; i < rows->size(); ++i) {
        if (i % 4 != 0) continue;
        const MlEnergyRow& r = (*rows)[i];
        const int batch = static_cast<int>(std::lround(r.avg_batch_size));
        const double context = batch * (kLmArenaMeanPromptTokens + r.avg_output_len / 2);
        const double itl = model.decode_time(batch, context, defaults).value();
        const double joules = r.avg_output_len * itl * model.decode_power(batch, defaults).value() +
                              batch * model.prefill_time(kLmArenaMeanPromptTokens, defaults).value() *
                                  model.prefill_power(defaults).value();
        const double energy_per_token = joules / (batch * r.avg_output_len);
        energy_sum += std::abs(energy_per_token - r.energy_per_token_j) / r.energy_per_token_j;
        itl_sum += std::abs(itl - r.median_itl_s) / r.median_itl_s;
        ++held_out;
    }
    ASSERT_EQ(held_out, 3);
    EXPECT_LE(energy_sum / held_out, kTargetMape);
    EXPECT_LE(itl_sum / held_out, kTargetMape);
    // The report says the same.
    EXPECT_NEAR(find_error(report, "mlenergy", "energy per token")->holdout_mape, energy_sum / held_out,
                1e-9);
    EXPECT_NEAR(find_error(report, "mlenergy", "median ITL")->holdout_mape, itl_sum / held_out, 1e-9);
}

TEST(Calibration, ReportsEverySourceWithFiniteErrors) {
    const auto& report = shipped_report();
    for (const char* source : {"mlenergy", "argonne", "splitwise", "perseus", "zeus"}) {
        EXPECT_TRUE(std::any_of(report.errors.begin(), report.errors.end(), [source](const FitError& e) {
            return e.source.rfind(source, 0) == 0;
        })) << source;
    }
    for (const auto& e : report.errors) {
        EXPECT_GT(e.holdout_rows, 0U) << e.source << " " << e.quantity;
        EXPECT_TRUE(std::isfinite(e.holdout_mape) && e.holdout_mape >= 0) << e.source << " " << e.quantity;
        EXPECT_FALSE(e.quantity.empty());
    }
    EXPECT_EQ(report.errors.front().source.rfind("mlenergy", 0), 0U) << "the target comes first";
}

TEST(Calibration, StatesItsAssumptions) {
    const auto& report = shipped_report();
    const auto stated = [&report](std::string_view words) {
        return std::any_of(
            report.assumptions.begin(), report.assumptions.end(),
            [words](const Assumption& a) { return a.effect.find(words) != std::string::npos; });
    };
    EXPECT_TRUE(stated("mean prompt length"));
    EXPECT_TRUE(stated("decode under an SM clock cap (no public data)"));
    EXPECT_TRUE(stated("idle power"));
    EXPECT_TRUE(stated("parked power"));
    EXPECT_TRUE(stated("wake delay"));
    EXPECT_TRUE(stated("KV capacity"));
    EXPECT_TRUE(stated("fp8 busy power"));
    for (const auto& a : report.assumptions) {
        EXPECT_FALSE(a.value.empty()) << a.effect;
        EXPECT_FALSE(a.reason.empty()) << a.effect;
    }
}

TEST(Calibration, DescribesEveryParameterWithAUnit) {
    const auto entries = describe_params(shipped_report().params);
    EXPECT_GE(entries.size(), 20U);
    for (const auto& e : entries) {
        EXPECT_TRUE(std::isfinite(e.value)) << e.name;
        EXPECT_FALSE(e.meaning.empty()) << e.name;
    }
}

TEST(Calibration, CalibratedModelUsesTheFittedParameters) {
    // ReplicaModel::calibrated skips the cross-checks; the parameters must not change.
    const auto model = ReplicaModel::calibrated(test::data_dir());
    ASSERT_TRUE(model.has_value()) << model.error().message;
    const auto& a = model->params();
    const auto& b = shipped_report().params;
    EXPECT_EQ(a.decode_base_s, b.decode_base_s);
    EXPECT_EQ(a.decode_per_seq_s, b.decode_per_seq_s);
    EXPECT_EQ(a.decode_per_ctx_token_s, b.decode_per_ctx_token_s);
    EXPECT_EQ(a.prefill_per_token_s, b.prefill_per_token_s);
    EXPECT_EQ(a.power_floor_w, b.power_floor_w);
    EXPECT_EQ(a.static_power_w, b.static_power_w);
    EXPECT_EQ(a.fp8_decode_speedup, b.fp8_decode_speedup);

    const auto lean = calibrate(test::data_dir(), CalibrationOptions{.cross_checks = false});
    ASSERT_TRUE(lean.has_value()) << lean.error().message;
    EXPECT_LT(lean->errors.size(), shipped_report().errors.size());
    EXPECT_EQ(find_error(*lean, "zeus", "epoch time vs power limit (relative to the highest limit)"),
              nullptr);
    EXPECT_NE(find_error(*lean, "mlenergy", "energy per token"), nullptr);
}

TEST(Calibration, MissingDataNamesTheFile) {
    const auto report = calibrate(test::calibration_fixtures() / "no_such_dir");
    ASSERT_FALSE(report.has_value());
    EXPECT_THAT(report.error().message, AllOf(HasSubstr("llm_configs.csv"), HasSubstr("cannot open")));
    const auto model = ReplicaModel::calibrated(test::calibration_fixtures() / "no_such_dir");
    EXPECT_FALSE(model.has_value());
}

TEST(Calibration, MalformedDataNamesFileAndLine) {
    const auto report = calibrate(test::calibration_fixtures() / "bad_mlenergy_dir");
    ASSERT_FALSE(report.has_value());
    EXPECT_THAT(report.error().message,
                AllOf(HasSubstr("bad_mlenergy_dir/mlenergy-leaderboard-v3/llm_configs.csv:3:"),
                      HasSubstr("avg_power_watts")));
}

}  // namespace
}  // namespace joulepilot::twin
