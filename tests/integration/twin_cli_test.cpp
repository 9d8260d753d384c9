// End to end: `joulepilot twin run` and `joulepilot calibrate` as a user runs them.
#include <sys/wait.h>

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
    return std::filesystem::temp_directory_path() / ("joulepilot_e2e_" + std::to_string(getpid()) + "_" + name);
}

nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

TEST(TwinRun, ShortDefaultScenarioComparesPoliciesAndWritesJsonAndReport) {
    const auto json = temp_file("compare.json");
    const auto html = temp_file("report.html");
    const CommandResult r = run_joulepilot("twin run --duration 30m --no-progress --json " + json.string() + " --report " + html.string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("static"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("idle-fsm"), std::string::npos) << r.output;
    const auto j = read_json(json);
    ASSERT_TRUE(j.contains("results"));
    ASSERT_EQ(j["results"].size(), 3u);
    for (const auto& result : j["results"]) {
        for (const char* key : {"scenario", "policy", "requests", "output_tokens", "it_energy_j", "facility_energy_j",
                                "energy_per_token_j", "p99_ttft_s", "p99_tpot_s", "slo_attainment", "carbon_g",
                                "cost_usd", "sim_wall_s"}) {
            EXPECT_TRUE(result.contains(key)) << key;
        }
        EXPECT_EQ(result["scenario"], "default");
        EXPECT_GT(result["requests"].get<double>(), 100);
        EXPECT_GT(result["it_energy_j"].get<double>(), 0);
        EXPECT_GE(result["facility_energy_j"].get<double>(), result["it_energy_j"].get<double>());
        EXPECT_GT(result["carbon_g"].get<double>(), 0);
        EXPECT_GT(result["cost_usd"].get<double>(), 0);
        EXPECT_GE(result["slo_attainment"].get<double>(), 0.0);
        EXPECT_LE(result["slo_attainment"].get<double>(), 1.0);
    }
    // The same seed gives the same workload for every policy.
    EXPECT_EQ(j["results"][0]["requests"], j["results"][1]["requests"]);
    std::ifstream page(html);
    const std::string text((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("<canvas"), std::string::npos);
    std::filesystem::remove(json);
    std::filesystem::remove(html);
}

TEST(TwinRun, OnePolicyWritesOneObjectAndTheSeedMakesItRepeatable) {
    const auto a = temp_file("a.json");
    const auto b = temp_file("b.json");
    ASSERT_EQ(run_joulepilot("twin run --policy static --duration 10m --seed 7 --no-progress --json " + a.string()).status, 0);
    ASSERT_EQ(run_joulepilot("twin run --policy static --duration 10m --seed 7 --no-progress --json " + b.string()).status, 0);
    const auto ja = read_json(a);
    const auto jb = read_json(b);
    EXPECT_EQ(ja["policy"], "static");
    EXPECT_EQ(ja["requests"], jb["requests"]);
    EXPECT_EQ(ja["it_energy_j"], jb["it_energy_j"]);
    std::filesystem::remove(a);
    std::filesystem::remove(b);
}

TEST(TwinRun, ReplaysAJsonlTraceAsRecorded) {
    const auto trace = temp_file("trace.jsonl");
    {
        std::ofstream out(trace);
        for (int i = 0; i < 200; ++i) {
            out << "{\"timestamp\": " << i * 500 << ", \"input_length\": 700, \"output_length\": 120}\n";
        }
    }
    const auto json = temp_file("trace.json");
    const CommandResult r = run_joulepilot("twin run --trace " + trace.string() + " --gpus 2 --policy static --no-progress --json " +
                      json.string());
    ASSERT_EQ(r.status, 0) << r.output;
    const auto j = read_json(json);
    EXPECT_EQ(j["requests"], 200);
    EXPECT_EQ(j["output_tokens"], 200 * 120);
    EXPECT_DOUBLE_EQ(j["slo_attainment"].get<double>(), 1.0);
    std::filesystem::remove(trace);
    std::filesystem::remove(json);
}

void expect_bad_input(const std::string& args, const std::string& message) {
    const CommandResult r = run_joulepilot(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
}

TEST(TwinRun, BadInputEndsWithAClearMessageAndStatus2) {
    expect_bad_input("twin run --scenario nope", "nope");
    expect_bad_input("twin run --policy nope --duration 1m", "unknown policy 'nope'");
    expect_bad_input("twin run --zone MARS --duration 1m", "MARS");
    expect_bad_input("twin run --gpus -3", "--gpus");
    expect_bad_input("twin run --gpus 100000", "--gpus");
    expect_bad_input("twin run --duration soon", "'soon' is not a duration");
    expect_bad_input("twin run --trace /nonexistent/trace.csv", "/nonexistent/trace.csv");
    expect_bad_input("twin run --slo-ttft 0", "--slo-ttft");

    const auto bad_trace = temp_file("bad.csv");
    {
        std::ofstream out(bad_trace);
        out << "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47,abc,5\n";
    }
    expect_bad_input("twin run --trace " + bad_trace.string(), ":3");
    std::filesystem::remove(bad_trace);

    const auto empty = temp_file("empty.csv");
    { std::ofstream out(empty); }
    expect_bad_input("twin run --trace " + empty.string(), empty.string());
    std::filesystem::remove(empty);

    const auto config = temp_file("bad.toml");
    {
        std::ofstream out(config);
        out << "[twin]\ngpus = 4\ngpsu = 2\n";
    }
    expect_bad_input("twin run --config " + config.string(), "twin.gpsu");
    {
        std::ofstream out(config);
        out << "[twin]\ngpus = 0\n";
    }
    expect_bad_input("twin run --config " + config.string(), "twin.gpus");
    std::filesystem::remove(config);
}

TEST(TwinRun, HelpExplainsTheOptions) {
    const CommandResult r = run_joulepilot("twin run --help");
    EXPECT_EQ(r.status, 0);
    for (const char* option : {"--scenario", "--trace", "--scale-peak", "--gpus", "--policy", "--compare", "--zone",
                               "--seed", "--duration", "--slo-ttft", "--slo-tpot", "--config", "--json", "--report"}) {
        EXPECT_NE(r.output.find(option), std::string::npos) << option;
    }
}

TEST(Calibrate, PrintsHeldOutErrorsAndWritesJson) {
    const auto json = temp_file("calibration.json");
    const CommandResult r = run_joulepilot("calibrate --json " + json.string());
    ASSERT_EQ(r.status, 0) << r.output;
    const auto j = read_json(json);
    ASSERT_TRUE(j.contains("errors"));
    EXPECT_FALSE(j["errors"].empty());
    std::filesystem::remove(json);
}

TEST(Calibrate, MissingDataIsBadInput) {
    const CommandResult r = run_joulepilot("--data-dir /nonexistent calibrate");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("/nonexistent"), std::string::npos) << r.output;
}

}  // namespace
