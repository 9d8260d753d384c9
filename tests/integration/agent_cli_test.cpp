// End to end: `joulepilot agent` as an operator runs it. The daemon in the twin world on a free port (API,
// token, /metrics, SIGTERM, the ledger's audit chain afterwards), and in the node world on a sysfs fixture
// tree with actuation on: SIGKILL mid-run, then the next start restores every setting before its first
// decision; `joulepilot restore` does the same for operators.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/joulepilot_process.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path fixture(const std::string& relative) { return fs::path(JOULEPILOT_TEST_FIXTURES) / relative; }

fs::path temp_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// The process helpers are shared with the other agent tests (tests/support/joulepilot_process.hpp).
using Background = joulepilot::testing::BackgroundJoulepilot;
std::string read_file(const fs::path& path) { return joulepilot::testing::read_text(path); }

// A sysfs value without its trailing newline.
std::string read_value(const fs::path& path) {
    std::string v = read_file(path);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
}

int run_sync(const std::vector<std::string>& args, const fs::path& dir, std::string* out = nullptr) {
    Background p(args, dir);
    const int status = p.stop(0);  // signal 0: just wait
    for (int i = 0; i < 300 && !p.exited(); ++i) std::this_thread::sleep_for(100ms);
    if (out != nullptr) *out = read_file(dir / "stdout.txt");
    return p.exited() ? status : -1;
}

TEST(AgentCli, TwinWorldServesTheApiKeepsALedgerAndStopsCleanlyOnSigterm) {
    const fs::path dir = temp_dir("jp-agent-twin");
    std::ofstream(dir / "token") << "s3cret-token-for-tests\n";
    Background agent({"agent", "--world", "twin", "--listen", "127.0.0.1:0", "--speed", "600", "--duration", "2h",
                      "--ledger", (dir / "ledger.db").string(), "--token-file", (dir / "token").string()},
                     dir);
    const auto port = agent.port();
    ASSERT_TRUE(port) << agent.err();
    httplib::Client client("127.0.0.1", *port);
    client.set_read_timeout(10, 0);

    // Let some simulated minutes pass (600x: a simulated minute every 0.1 s).
    std::this_thread::sleep_for(1500ms);
    auto status = client.Get("/v1/status");
    ASSERT_TRUE(status) << agent.err();
    ASSERT_EQ(status->status, 200) << status->body;
    const auto s = nlohmann::json::parse(status->body);
    EXPECT_EQ(s["world"], "twin");
    EXPECT_GT(s["ticks"].get<int>(), 10);

    // Mutating calls need the token.
    auto refused = client.Post("/v1/optimize", "", "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401);
    const httplib::Headers auth{{"Authorization", "Bearer s3cret-token-for-tests"}};
    auto optimized = client.Post("/v1/optimize", auth, "", "application/json");
    ASSERT_TRUE(optimized);
    EXPECT_EQ(optimized->status, 200) << optimized->body;

    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("joulepilot_gpu_power_watts"), std::string::npos);

    EXPECT_EQ(agent.stop(SIGTERM), 0) << agent.err();

    // Everything it did is in the ledger, and the audit chain verifies.
    std::string out;
    EXPECT_EQ(run_sync({"audit", "verify", "--ledger", (dir / "ledger.db").string()}, dir / "..", &out), 0) << out;
    EXPECT_EQ(run_sync({"ledger", "query", "--ledger", (dir / "ledger.db").string(), "--series", "fleet.power_watts",
                        "--from", "2023-06-14T00:00:00Z", "--to", "2023-06-15T00:00:00Z", "--json"},
                       dir / "..", &out),
              0);
    EXPECT_NE(out.find("value"), std::string::npos) << out;
}

// The node world on a copy of a two-socket fixture tree, with the shield in act mode and a policy that
// lowers every CPU package's max frequency at once.
struct NodeRun {
    fs::path dir;
    fs::path root;
    fs::path config;
    fs::path freq;  // cpu0's scaling_max_freq in the copy
    std::string original;
};

NodeRun prepare_node(const std::string& name, double decide_interval_s) {
    NodeRun run;
    run.dir = temp_dir(name);
    run.root = run.dir / "root";
    fs::copy(fixture("act/node-2s"), run.root, fs::copy_options::recursive);
    run.freq = run.root / "sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq";
    run.original = read_value(run.freq);
    run.config = run.dir / "agent.toml";
    std::ofstream(run.config) << "[agent]\nstate_dir = \"" << run.dir.string() << "\"\nsense_interval_s = 0.1\n"
                              << "decide_interval_s = " << decide_interval_s << "\npolicy = \"harmful-clocks\"\n"
                              << "[act.nvml]\nenable = false\n"
                              << "[shield]\nmode = \"act\"\n[shield.canary]\nhold_s = 0\n"
                              << "[shield.knobs.\"cpu.*.max_freq_hz\"]\nallow = true\nmin_interval_s = 0\n"
                              << "[policy.harmful-clocks]\nknobs = \"cpu.*.max_freq_hz\"\n";
    return run;
}

TEST(AgentCli, AfterSigkillTheNextStartRestoresEverySettingBeforeItsFirstDecision) {
    NodeRun run = prepare_node("jp-agent-kill", 0.2);
    {
        Background agent({"agent", "--config", run.config.string(), "--root", run.root.string(), "--listen",
                          "127.0.0.1:0", "--no-ledger"},
                         run.dir);
        ASSERT_TRUE(agent.port()) << agent.err();
        bool changed = false;
        for (int i = 0; i < 100 && !changed; ++i) {
            std::this_thread::sleep_for(100ms);
            changed = read_value(run.freq) != run.original;
        }
        ASSERT_TRUE(changed) << agent.err();
        EXPECT_EQ(agent.stop(SIGKILL), 128 + SIGKILL);
    }
    ASSERT_NE(read_value(run.freq), run.original);
    ASSERT_TRUE(fs::exists(run.dir / "shield-state.json"));

    // Started again with a first decision 60 s away: the originals are back long before it.
    std::string config = read_file(run.config);
    config.replace(config.find("decide_interval_s = 0.2"), std::string("decide_interval_s = 0.2").size(),
                   "decide_interval_s = 60");
    std::ofstream(run.config) << config;
    Background agent({"agent", "--config", run.config.string(), "--root", run.root.string(), "--listen",
                      "127.0.0.1:0", "--no-ledger"},
                     run.dir);
    ASSERT_TRUE(agent.port()) << agent.err();
    EXPECT_EQ(read_value(run.freq), run.original) << agent.err();
    EXPECT_FALSE(fs::exists(run.dir / "shield-state.json"));
    EXPECT_EQ(agent.stop(SIGTERM), 0) << agent.err();
}

TEST(AgentCli, RestoreCommandPutsBackWhatAKilledAgentLeftChanged) {
    NodeRun run = prepare_node("jp-agent-restore", 0.2);
    {
        Background agent({"agent", "--config", run.config.string(), "--root", run.root.string(), "--listen",
                          "127.0.0.1:0", "--no-ledger"},
                         run.dir);
        ASSERT_TRUE(agent.port()) << agent.err();
        for (int i = 0; i < 100 && read_value(run.freq) == run.original; ++i) std::this_thread::sleep_for(100ms);
        agent.stop(SIGKILL);
    }
    ASSERT_NE(read_value(run.freq), run.original);
    ASSERT_TRUE(fs::exists(run.dir / "shield-state.json"));
    std::string out;
    EXPECT_EQ(run_sync({"restore", "--config", run.config.string(), "--root", run.root.string(), "--json"}, run.dir,
                       &out),
              0)
        << out;
    EXPECT_EQ(read_value(run.freq), run.original);
    const auto j = nlohmann::json::parse(out);
    EXPECT_GE(j["restored"].size(), 1u);
    // Nothing left: a second restore has nothing to do.
    EXPECT_EQ(run_sync({"restore", "--config", run.config.string(), "--root", run.root.string()}, run.dir, &out), 0);
    EXPECT_NE(out.find("nothing to restore"), std::string::npos) << out;
}

}  // namespace

namespace {

// The twin shows the shield at work: a deliberately harmful policy is canaried on one GPU and rolled back
// by the SLO guard, and `twin run` says so in its table and its JSON.
TEST(TwinShield, AHarmfulPolicyIsCanariedAndRolledBackInTheOutput) {
    const fs::path dir = temp_dir("jp-twin-shield");
    std::string out;
    ASSERT_EQ(run_sync({"twin", "run", "--policy", "harmful-clocks", "--duration", "15m", "--no-progress", "--json",
                        (dir / "run.json").string()},
                       dir, &out),
              0);
    EXPECT_NE(out.find("rollbacks by the SLO guard"), std::string::npos) << out;
    const auto j = nlohmann::json::parse(read_file(dir / "run.json"));
    // One policy: the run itself; several: under "results".
    const auto& run = j.contains("results") ? j["results"][0] : j;
    const auto& shield = run["shield"];
    EXPECT_GE(shield["canaries"].get<int>(), 1);
    EXPECT_GE(shield["rollbacks"].get<int>(), 1);
    bool canary = false;
    bool rollback = false;
    for (const auto& e : shield["events"]) {
        canary = canary || e["kind"] == "canary";
        rollback = rollback || (e["kind"] == "rollback" && e["after"].get<double>() > e["before"].get<double>());
    }
    EXPECT_TRUE(canary);
    EXPECT_TRUE(rollback);
}

}  // namespace
