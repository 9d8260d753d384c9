// The calibration data readers (calibration_sources.cpp): the shipped files load with the rows and units
// the READMEs describe, and every malformed fixture is an error naming the file, the line and the column.

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "twin/replica/calibration_sources.hpp"
#include "unit/twin/replica/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::filesystem::path kFixtures = test::calibration_fixtures();
const std::filesystem::path kData = test::data_dir();

template <class Result>
std::string error_of(const Result& result) {
    EXPECT_FALSE(result.has_value()) << "loaded";
    return result ? std::string() : result.error().message;
}

TEST(CalibrationSources, LoadsShippedMlEnergyRows) {
    const auto rows = load_mlenergy_h100_llama8b(kData / "mlenergy-leaderboard-v3/llm_configs.csv");
    ASSERT_TRUE(rows.has_value()) << rows.error().message;
    ASSERT_EQ(rows->size(), 11U);
    EXPECT_EQ(rows->front().max_num_seqs, 8);
    EXPECT_EQ(rows->back().max_num_seqs, 768);
    EXPECT_NEAR(rows->front().median_itl_s, 7.316111586987972e-3, 1e-12);  // ms -> s
    EXPECT_NEAR(rows->front().avg_power_w, 486.4380535594687, 1e-9);
    for (std::size_t i = 1; i < rows->size(); ++i)
        EXPECT_LT((*rows)[i - 1].max_num_seqs, (*rows)[i].max_num_seqs);
    // The file's own identity: J/token = power / output throughput.
    for (const auto& r : *rows)
        EXPECT_NEAR(r.energy_per_token_j, r.avg_power_w / r.output_throughput_tps, 1e-6);
}

TEST(CalibrationSources, LoadsShippedArgonneRuns) {
    const auto dir = kData / "argonne-llm-inference-bench";
    const auto latency = load_argonne_latency(dir / "All_results.csv");
    ASSERT_TRUE(latency.has_value()) << latency.error().message;
    EXPECT_EQ(latency->size(), 20U);  // lengths 128..2048 x batches 1, 16, 32, 64

    const auto power = load_argonne_power(dir / "power_results.csv");
    ASSERT_TRUE(power.has_value()) << power.error().message;
    ASSERT_EQ(power->size(), 4U);
    EXPECT_NEAR(power->front().power_w, 363.271, 1e-9);  // the file is in milliwatts
    EXPECT_NEAR(power->back().power_w, 455.4769036144578, 1e-9);

    const auto fp16 = load_argonne_quant(dir / "A100_H100_quant_all_results.csv", ArgonnePrecision::fp16);
    const auto fp8 = load_argonne_quant(dir / "A100_H100_quant_all_results.csv", ArgonnePrecision::fp8);
    ASSERT_TRUE(fp16.has_value()) << fp16.error().message;
    ASSERT_TRUE(fp8.has_value()) << fp8.error().message;
    EXPECT_EQ(fp16->size(), 20U);
    EXPECT_EQ(fp8->size(), 20U);
}

TEST(CalibrationSources, LoadsShippedSplitwiseAndZeus) {
    const auto prefill = load_splitwise_prefill(kData / "splitwise-perf-model/perf_model.csv");
    ASSERT_TRUE(prefill.has_value()) << prefill.error().message;
    EXPECT_EQ(prefill->size(), 12U);  // 7 prompt sizes at batch 1, batches 2..32 at 512 tokens
    for (const auto& p : *prefill) EXPECT_NE(p.batch, 64);

    const auto stages =
        load_zeus_stage_profile(kData / "zeus-perseus-gpu-power/stage_profile_bloom+a100_sxm_bf16.csv");
    ASSERT_TRUE(stages.has_value()) << stages.error().message;
    EXPECT_EQ(stages->size(), 16U * 38U);  // 8 stages x forward/backward x 38 clocks

    const auto sweep = load_zeus_power_limit(kData / "zeus-perseus-gpu-power/summary_power_a40.csv");
    ASSERT_TRUE(sweep.has_value()) << sweep.error().message;
    EXPECT_EQ(sweep->size(), 453U);
}

TEST(CalibrationSources, ReadsFixturesWithUnitsAndFilters) {
    const auto rows = load_mlenergy_h100_llama8b(kFixtures / "mlenergy_ok.csv");
    ASSERT_TRUE(rows.has_value()) << rows.error().message;
    ASSERT_EQ(rows->size(), 2U);
    EXPECT_DOUBLE_EQ(rows->at(1).median_itl_s, 7.912e-3);

    const auto power = load_argonne_power(kFixtures / "argonne_power_ok.csv");  // blank lines between blocks
    ASSERT_TRUE(power.has_value()) << power.error().message;
    ASSERT_EQ(power->size(), 2U);  // the A100 row is not ours
    EXPECT_DOUBLE_EQ(power->at(1).power_w, 404.20114);

    // Mean of the repeats (and of output lengths) per point; batch 64, TP 4 and A100 rows left out.
    const auto prefill = load_splitwise_prefill(kFixtures / "splitwise_ok.csv");
    ASSERT_TRUE(prefill.has_value()) << prefill.error().message;
    ASSERT_EQ(prefill->size(), 2U);
    EXPECT_DOUBLE_EQ(prefill->at(0).prompt_time_s, (85.4 + 83.4) / 2 / 1000);
    EXPECT_DOUBLE_EQ(prefill->at(1).prompt_time_s, 0.1579);
}

TEST(CalibrationSources, MissingFileNamesIt) {
    EXPECT_THAT(error_of(load_mlenergy_h100_llama8b(kFixtures / "no_such.csv")),
                AllOf(HasSubstr("no_such.csv"), HasSubstr("cannot open")));
}

TEST(CalibrationSources, MalformedMlEnergyFiles) {
    EXPECT_THAT(
        error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_bad_number.csv")),
        AllOf(HasSubstr("mlenergy_bad_number.csv:3:"), HasSubstr("'avg_power_watts'"), HasSubstr("abc")));
    EXPECT_THAT(error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_negative_itl.csv")),
                AllOf(HasSubstr("mlenergy_negative_itl.csv:3:"), HasSubstr("'median_itl_ms'"),
                      HasSubstr("must be positive")));
    EXPECT_THAT(error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_short_row.csv")),
                AllOf(HasSubstr("mlenergy_short_row.csv:3:"), HasSubstr("expected 17 fields, found 4")));
    EXPECT_THAT(
        error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_missing_column.csv")),
        AllOf(HasSubstr("mlenergy_missing_column.csv:1:"), HasSubstr("missing column 'median_itl_ms'")));
    EXPECT_THAT(error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_no_rows.csv")),
                AllOf(HasSubstr("mlenergy_no_rows.csv"), HasSubstr("no rows for")));
    EXPECT_THAT(
        error_of(load_mlenergy_h100_llama8b(kFixtures / "mlenergy_bad_batch_cap.csv")),
        AllOf(HasSubstr("mlenergy_bad_batch_cap.csv:2:"), HasSubstr("'max_num_seqs'"), HasSubstr("eight")));
    EXPECT_THAT(error_of(load_mlenergy_h100_llama8b(kFixtures / "empty.csv")),
                AllOf(HasSubstr("empty.csv"), HasSubstr("empty file")));
}

TEST(CalibrationSources, MalformedOtherSources) {
    EXPECT_THAT(error_of(load_argonne_power(kFixtures / "argonne_power_empty_field.csv")),
                AllOf(HasSubstr("argonne_power_empty_field.csv:3:"), HasSubstr("'avg_power'")));
    EXPECT_THAT(error_of(load_argonne_quant(kFixtures / "argonne_quant_nan.csv", ArgonnePrecision::fp8)),
                AllOf(HasSubstr("argonne_quant_nan.csv:5:"), HasSubstr("'latency'"), HasSubstr("nan")));
    EXPECT_THAT(error_of(load_splitwise_prefill(kFixtures / "splitwise_bad_batch.csv")),
                AllOf(HasSubstr("splitwise_bad_batch.csv:3:"), HasSubstr("'batch_size'"), HasSubstr("1.5")));
    EXPECT_THAT(error_of(load_zeus_stage_profile(kFixtures / "zeus_stage_negative_time.csv")),
                AllOf(HasSubstr("zeus_stage_negative_time.csv:3:"), HasSubstr("'time'"),
                      HasSubstr("must be positive")));
    EXPECT_THAT(
        error_of(load_zeus_power_limit(kFixtures / "zeus_limit_missing_column.csv")),
        AllOf(HasSubstr("zeus_limit_missing_column.csv"), HasSubstr("missing column 'average_power'")));
}

}  // namespace
}  // namespace joulepilot::twin
