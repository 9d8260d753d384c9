// End to end: `joulepilot train model` and `joulepilot bench` on short slices of a scenario (minutes of
// simulated time, so the whole file runs in seconds).
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/joulepilot_process.hpp"

namespace {

// The binary's runner is shared with the other end-to-end tests (tests/support/joulepilot_process.hpp).
using joulepilot::testing::CommandResult;
using joulepilot::testing::run_joulepilot;

std::filesystem::path temp_file(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("joulepilot_bench_" + std::to_string(getpid()) + "_" + name);
}

class BenchCli : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        model_path() = temp_file("model.json");
        const CommandResult r = run_joulepilot("train model --samples 300 --rounds 20 --scenarios azure-conv --out " +
                                               model_path().string());
        ASSERT_EQ(r.status, 0) << r.output;
        ASSERT_NE(r.output.find("held-out test rows"), std::string::npos) << r.output;
        ASSERT_NE(r.output.find("power_w"), std::string::npos) << r.output;
    }
    static void TearDownTestSuite() { std::filesystem::remove(model_path()); }
    static std::filesystem::path& model_path() {
        static std::filesystem::path path;
        return path;
    }
};

TEST_F(BenchCli, ComparesPoliciesAgainstStaticAndOracleAndAttributesSavings) {
    const auto json = temp_file("bench.json");
    const CommandResult r = run_joulepilot("bench --scenario azure-conv --duration 4m --no-progress --policies "
                                           "static,mpc,oracle --model " + model_path().string() +
                                           " --json " + json.string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("Shapley"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("naive (persistence)"), std::string::npos) << r.output;
    std::ifstream in(json);
    const auto j = nlohmann::json::parse(in);
    ASSERT_EQ(j["results"].size(), 3u);
    for (const auto& result : j["results"]) {
        EXPECT_GT(result["facility_energy_j"].get<double>(), 0);
        EXPECT_TRUE(result.contains("ratio_to_static"));
        EXPECT_TRUE(result.contains("ratio_to_oracle"));
        EXPECT_GE(result["decide_p99_s"].get<double>(), result["decide_p50_s"].get<double>());
    }
    EXPECT_EQ(j["results"][0]["ratio_to_static"].get<double>(), 1.0);
    // Shapley values add up to the savings of all groups together (efficiency).
    const auto& s = j["shapley"];
    double sum = 0;
    for (const auto& [group, value] : s["groups"].items()) sum += value.get<double>();
    EXPECT_NEAR(sum, s["total_saved_j"].get<double>(), 1e-6 * std::max(1.0, std::abs(sum)));
    EXPECT_EQ(s["subsets"].size(), 16u);
    std::filesystem::remove(json);
}

TEST_F(BenchCli, ModelForAnotherKnobSpaceIsRefusedWithAClearMessage) {
    std::ifstream in(model_path());
    auto doc = nlohmann::json::parse(in);
    doc["knob_space"] = "gpu.sm_clock_cap_hz[0..1/1]";
    const auto foreign = temp_file("foreign.json");
    std::ofstream(foreign) << doc.dump();
    const CommandResult r = run_joulepilot("bench --scenario azure-conv --duration 2m --no-progress --shapley none "
                                           "--policies static,mpc --model " + foreign.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("another knob space"), std::string::npos) << r.output;
    std::filesystem::remove(foreign);
}

TEST_F(BenchCli, TwinRunFallsBackToStaticWhenTheModelFileIsMissing) {
    const auto config = temp_file("missing_model.toml");
    std::ofstream(config) << "[policy.mpc]\nmodel = \"/nonexistent/model.json\"\n";
    const CommandResult r = run_joulepilot("twin run --scenario azure-conv --duration 2m --no-progress --policy mpc "
                                           "--config " + config.string());
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/model.json"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("static"), std::string::npos) << r.output;
    std::filesystem::remove(config);
}

TEST_F(BenchCli, OracleRunsInTwinRun) {
    const CommandResult r = run_joulepilot("twin run --scenario azure-conv --duration 2m --no-progress --policy oracle");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("oracle"), std::string::npos) << r.output;
}

}  // namespace
