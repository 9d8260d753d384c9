// End to end: `joulepilot agent --world node` acting on remote knobs through the config's [act.kube] and
// [act.http_knob] sections, against loopback test doubles (tests/support/kube_test_double.hpp): a
// Deployment's replica count through the scale subresource and the model server's batch cap through its
// knob endpoint. No policy of src/decide scales a Deployment in the node world, so the change comes from
// `harmful-clocks` aimed at every knob (`knobs = "*"`): it asks for the lowest value of each, the smallest
// honest way to make a real policy move both knobs away from their originals.
//
// Checked: the change reaches both doubles (the scale PATCH on the Deployment's path, the knob PUT), the
// operator's bound on the batch cap clamps it (the reason names the bounds), it is in the API's actions,
// the ledger's audit chain (which verifies) and its actions table; SIGTERM puts both originals back; after
// SIGKILL the next start puts them back before its first decision, and a later `static` policy keeps them
// (the originals, not the values the killed run left, are the knobs' defaults); a 403 from Kubernetes is
// recorded, leaves the replicas alone and disables the knob after max_failures, while the batch cap still
// works; a tampered audit chain is reported by `joulepilot audit verify`, and nothing repairs it.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/joulepilot_process.hpp"
#include "support/kube_test_double.hpp"

namespace {

namespace fs = std::filesystem;
using joulepilot::testing::BackgroundJoulepilot;
using joulepilot::testing::CommandResult;
using joulepilot::testing::KnobEndpointDouble;
using joulepilot::testing::KubeTestDouble;
using joulepilot::testing::read_text;
using joulepilot::testing::run_joulepilot;
using namespace std::chrono_literals;

constexpr const char* kKnobReplicas = "deployment.jp/web.replicas";
constexpr const char* kKnobBatchCap = "replica.0.batch_cap";
constexpr const char* kScalePath = "/apis/apps/v1/namespaces/jp/deployments/web/scale";
constexpr int kOriginalReplicas = 3;
constexpr double kOriginalBatchCap = 256;
constexpr double kBatchCapFloor = 64;  // the operator's [shield.knobs] min: the policy asks for 8

// Polls `done` every 50 ms for up to 20 s.
bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return done();
}

class RemoteKnobsAgent : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fs::temp_directory_path() / ("jp-act-remote-" + std::to_string(::getpid()) + "-" +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
        // The sensors read a copy of a fixture tree, never this machine's /sys.
        fs::copy(fs::path(JOULEPILOT_TEST_FIXTURES) / "act/node-2s", dir / "root", fs::copy_options::recursive);

        kube.require_token("agent-token");
        kube.add_workload("deployments", "jp", "web", kOriginalReplicas);
        std::ofstream(dir / "kubeconfig") << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                                             "clusters:\n- name: double\n  cluster: {server: \""
                                          << kube.url()
                                          << "\"}\ncontexts:\n- name: test\n  context: {cluster: double, user: u}\n"
                                             "users:\n- name: u\n  user: {token: agent-token}\n";
        knobs.add(kKnobBatchCap, {kOriginalBatchCap, 8, 512, 8, {}});
        write_config("harmful-clocks", 0.2);
    }
    void TearDown() override { fs::remove_all(dir); }

    void write_config(const std::string& policy, double decide_interval_s, int max_failures = 3) {
        std::ofstream(dir / "agent.toml")
            << "[agent]\nstate_dir = \"" << dir.string() << "\"\nsense_interval_s = 0.1\ndecide_interval_s = "
            << decide_interval_s << "\npolicy = \"" << policy << "\"\n"
            << "[act.nvml]\nenable = false\n[act.rapl]\nenable = false\n[act.cpufreq]\nenable = false\n"
            << "[act.kube]\nenable = true\nkubeconfig = \"" << (dir / "kubeconfig").string() << "\"\n"
            << "[act.kube.targets.\"deployment/jp/web\"]\nmin_replicas = 1\nmax_replicas = 4\n"
            << "[act.http_knob]\nenable = true\nurl = \"" << knobs.url() << "\"\n"
            << "[shield]\nmode = \"act\"\nmax_failures = " << max_failures << "\n[shield.canary]\nhold_s = 0\n"
            << "[shield.knobs.\"deployment.*.replicas\"]\nallow = true\nmin_interval_s = 0\n"
            << "[shield.knobs.\"replica.*.batch_cap\"]\nallow = true\nmin = " << kBatchCapFloor
            << "\nmin_interval_s = 0\n"
            << (policy == "harmful-clocks" ? "[policy.harmful-clocks]\nknobs = \"*\"\n" : "");
    }

    std::unique_ptr<BackgroundJoulepilot> start_agent() {
        auto agent = std::make_unique<BackgroundJoulepilot>(
            std::vector<std::string>{"agent", "--config", (dir / "agent.toml").string(), "--root",
                                     (dir / "root").string(), "--listen", "127.0.0.1:0"},
            dir);
        return agent;
    }

    [[nodiscard]] bool changed_both() const {
        return kube.replicas("deployments", "jp", "web") == 1 && knobs.value(kKnobBatchCap) == kBatchCapFloor;
    }
    [[nodiscard]] bool at_originals() const {
        return kube.replicas("deployments", "jp", "web") == kOriginalReplicas &&
               knobs.value(kKnobBatchCap) == kOriginalBatchCap;
    }

    [[nodiscard]] nlohmann::json audit_entries() const {
        const CommandResult shown = run_joulepilot("audit show --last 10000 --json --ledger " + (dir / "ledger.db").string());
        EXPECT_EQ(shown.status, 0) << shown.output;
        return nlohmann::json::parse(shown.output, nullptr, false);
    }

    KubeTestDouble kube;
    KnobEndpointDouble knobs;
    fs::path dir;
};

// The first audit entry of `kind` for `knob`, or null.
nlohmann::json find_entry(const nlohmann::json& entries, const std::string& kind, const std::string& knob) {
    for (const auto& e : entries) {
        if (e["kind"] == kind && e["body"]["knob"] == knob) return e;
    }
    return nullptr;
}

TEST_F(RemoteKnobsAgent, ChangesReachBothDoublesAreAuditedAndSigtermRestoresThem) {
    auto agent = start_agent();
    const auto port = agent->port();
    ASSERT_TRUE(port) << agent->err();
    ASSERT_TRUE(eventually([&] { return changed_both(); }))
        << "replicas " << kube.replicas("deployments", "jp", "web") << ", batch cap " << knobs.value(kKnobBatchCap)
        << "\n" << agent->err();
    // The replicas went through the scale subresource of the configured Deployment.
    EXPECT_GE(kube.count_requests(std::string("PATCH ") + kScalePath), 1) << agent->err();
    EXPECT_GE(knobs.puts(), 1);

    // The API's recent actions name both knobs and their outcomes.
    httplib::Client client("127.0.0.1", *port);
    client.set_read_timeout(10, 0);
    auto actions = client.Get("/v1/actions?limit=1000");
    ASSERT_TRUE(actions);
    ASSERT_EQ(actions->status, 200) << actions->body;
    bool replicas_applied = false;
    bool batch_clamped = false;
    for (const auto& a : nlohmann::json::parse(actions->body)) {
        replicas_applied = replicas_applied || (a["knob"] == kKnobReplicas && a["outcome"] == "applied" &&
                                                a["before"] == kOriginalReplicas && a["after"] == 1);
        batch_clamped = batch_clamped || (a["knob"] == kKnobBatchCap && a["outcome"] == "clamped" &&
                                          a["requested"] == 8 && a["after"] == kBatchCapFloor);
    }
    EXPECT_TRUE(replicas_applied) << actions->body;
    EXPECT_TRUE(batch_clamped) << actions->body;

    EXPECT_EQ(agent->stop(SIGTERM), 0) << agent->err();
    EXPECT_TRUE(at_originals()) << agent->err();
    EXPECT_FALSE(fs::exists(dir / "shield-state.json"));

    // The audit trail: the change (policy, rationale, before and after), then the restore; the chain verifies.
    const CommandResult verified = run_joulepilot("audit verify --ledger " + (dir / "ledger.db").string());
    EXPECT_EQ(verified.status, 0) << verified.output;
    EXPECT_NE(verified.output.find("intact"), std::string::npos) << verified.output;
    const nlohmann::json entries = audit_entries();
    const nlohmann::json change = find_entry(entries, "change", kKnobReplicas);
    ASSERT_FALSE(change.is_null()) << entries.dump(1);
    EXPECT_EQ(change["body"]["policy"], "harmful-clocks");
    EXPECT_EQ(change["body"]["target"], "deployment.jp/web");
    EXPECT_EQ(change["body"]["before"], kOriginalReplicas);
    EXPECT_EQ(change["body"]["after"], 1);
    EXPECT_NE(change["body"]["rationale"].get<std::string>().find("harmful"), std::string::npos);
    const nlohmann::json clamped = find_entry(entries, "change", kKnobBatchCap);
    ASSERT_FALSE(clamped.is_null()) << entries.dump(1);
    EXPECT_EQ(clamped["body"]["outcome"], "clamped");
    // The reason names the bounds the request fell outside.
    EXPECT_NE(clamped["body"]["reason"].get<std::string>().find("64"), std::string::npos) << clamped.dump();
    EXPECT_NE(clamped["body"]["reason"].get<std::string>().find("512"), std::string::npos) << clamped.dump();
    const nlohmann::json restored = find_entry(entries, "restore", kKnobReplicas);
    ASSERT_FALSE(restored.is_null()) << entries.dump(1);
    EXPECT_EQ(restored["body"]["after"], kOriginalReplicas);
    EXPECT_FALSE(find_entry(entries, "restore", kKnobBatchCap).is_null()) << entries.dump(1);

    // The ledger's actions table holds the same changes.
    const CommandResult exported =
        run_joulepilot("ledger export --table actions --format json --ledger " + (dir / "ledger.db").string());
    ASSERT_EQ(exported.status, 0) << exported.output;
    EXPECT_NE(exported.output.find(kKnobReplicas), std::string::npos) << exported.output;
    EXPECT_NE(exported.output.find(kKnobBatchCap), std::string::npos) << exported.output;
}

TEST_F(RemoteKnobsAgent, AfterSigkillTheNextStartRestoresBothBeforeItsFirstDecision) {
    {
        auto agent = start_agent();
        ASSERT_TRUE(agent->port()) << agent->err();
        ASSERT_TRUE(eventually([&] { return changed_both(); })) << agent->err();
        EXPECT_EQ(agent->stop(SIGKILL), 128 + SIGKILL);
    }
    ASSERT_TRUE(changed_both());
    ASSERT_TRUE(fs::exists(dir / "shield-state.json"));

    // The `static` policy holds every knob at its default: had the values the killed run left become the
    // defaults, it would write them again.
    write_config("static", 0.2);
    auto agent = start_agent();
    const auto port = agent->port();
    ASSERT_TRUE(port) << agent->err();
    // "listening" is printed after recovery and before the loop's first tick.
    EXPECT_TRUE(at_originals()) << agent->err();
    EXPECT_FALSE(fs::exists(dir / "shield-state.json"));

    httplib::Client client("127.0.0.1", *port);
    client.set_read_timeout(10, 0);
    nlohmann::json status;
    ASSERT_TRUE(eventually([&] {
        auto r = client.Get("/v1/status");
        if (!r || r->status != 200) return false;
        status = nlohmann::json::parse(r->body);
        return status["decisions"].get<int>() >= 3;
    })) << agent->err();
    EXPECT_TRUE(at_originals()) << "replicas " << kube.replicas("deployments", "jp", "web") << ", batch cap "
                                << knobs.value(kKnobBatchCap) << "\n" << agent->err();
    for (const auto& k : status["knobs"]) {
        if (k["name"] == kKnobReplicas) {
            EXPECT_EQ(k["default"], kOriginalReplicas) << status.dump();
        }
        if (k["name"] == kKnobBatchCap) {
            EXPECT_EQ(k["default"], kOriginalBatchCap) << status.dump();
        }
    }
    EXPECT_EQ(agent->stop(SIGTERM), 0) << agent->err();
    EXPECT_TRUE(at_originals());

    // The recovery is in the audit trail, before any decision of the new run changed anything.
    const nlohmann::json entries = audit_entries();
    const nlohmann::json recovered = find_entry(entries, "recover", kKnobReplicas);
    ASSERT_FALSE(recovered.is_null()) << entries.dump(1);
    EXPECT_EQ(recovered["body"]["before"], 1);
    EXPECT_EQ(recovered["body"]["after"], kOriginalReplicas);
    EXPECT_FALSE(find_entry(entries, "recover", kKnobBatchCap).is_null()) << entries.dump(1);
    for (const auto& e : entries) {
        if (e["seq"] > recovered["seq"]) {
            EXPECT_NE(e["kind"], "change") << e.dump();
        }
    }
}

TEST_F(RemoteKnobsAgent, AForbiddenScaleIsRecordedAndDisablesTheKnobWhileTheBatchCapStillWorks) {
    kube.forbid("patch", "deployments/scale");
    write_config("harmful-clocks", 0.2, 2);
    auto agent = start_agent();
    const auto port = agent->port();
    ASSERT_TRUE(port) << agent->err();
    ASSERT_TRUE(eventually([&] { return agent->err().find("replicas disabled") != std::string::npos; })) << agent->err();
    EXPECT_EQ(kube.replicas("deployments", "jp", "web"), kOriginalReplicas);
    EXPECT_TRUE(eventually([&] { return knobs.value(kKnobBatchCap) == kBatchCapFloor; })) << agent->err();

    // The API shows the failures (with Kubernetes' reason) and then the refusals of the disabled knob.
    httplib::Client client("127.0.0.1", *port);
    client.set_read_timeout(10, 0);
    int failed = 0;
    bool refused_disabled = false;
    ASSERT_TRUE(eventually([&] {
        auto r = client.Get("/v1/actions?limit=1000");
        if (!r || r->status != 200) return false;
        failed = 0;
        for (const auto& a : nlohmann::json::parse(r->body)) {
            if (a["knob"] != kKnobReplicas) continue;
            if (a["outcome"] == "failed") {
                ++failed;
                EXPECT_NE(a["reason"].get<std::string>().find("403"), std::string::npos) << a.dump();
                EXPECT_EQ(a["after"], kOriginalReplicas) << a.dump();
            }
            refused_disabled = refused_disabled || (a["outcome"] == "refused" &&
                                                    a["reason"].get<std::string>().find("disabled: 2 failed writes") !=
                                                        std::string::npos);
        }
        return refused_disabled;
    })) << agent->err();
    EXPECT_EQ(failed, 2);
    // /v1/status says which knob is disabled and why; the batch cap is not.
    auto status = client.Get("/v1/status");
    ASSERT_TRUE(status && status->status == 200);
    bool replicas_listed = false;
    const nlohmann::json status_json = nlohmann::json::parse(status->body);
    for (const auto& k : status_json["knobs"]) {
        if (k["name"] == kKnobReplicas) {
            replicas_listed = true;
            EXPECT_TRUE(k["disabled"].get<bool>()) << k.dump();
            EXPECT_NE(k["disabled_reason"].get<std::string>().find("403"), std::string::npos) << k.dump();
        } else {
            EXPECT_FALSE(k["disabled"].get<bool>()) << k.dump();
        }
    }
    EXPECT_TRUE(replicas_listed) << status->body;
    EXPECT_EQ(agent->stop(SIGTERM), 0) << agent->err();
    EXPECT_TRUE(at_originals()) << agent->err();

    // The disabling is in the audit trail with its reason.
    const nlohmann::json disabled = find_entry(audit_entries(), "disable", kKnobReplicas);
    ASSERT_FALSE(disabled.is_null());
    EXPECT_NE(disabled["body"]["reason"].get<std::string>().find("patch"), std::string::npos) << disabled.dump();
}

// Bad [act.kube] and [act.http_knob] input stops the agent before it starts, with exit status 2 and a
// message naming the table, the key or the endpoint, and what is expected.
TEST_F(RemoteKnobsAgent, BadRemoteActuatorConfigIsRefusedNamingTheInput) {
    const std::string good = read_text(dir / "agent.toml");
    const auto refused = [&](const std::string& from, const std::string& to) {
        std::string config = good;
        const auto at = config.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) config.replace(at, from.size(), to);
        std::ofstream(dir / "agent.toml") << config;
        const CommandResult r = run_joulepilot("agent --config " + (dir / "agent.toml").string() + " --root " +
                                               (dir / "root").string() + " --listen 127.0.0.1:0 --duration 1s");
        EXPECT_EQ(r.status, 2) << r.output;
        return r.output;
    };
    EXPECT_NE(refused("\"deployment/jp/web\"", "\"web\"").find("[act.kube.targets.\"web\"]"), std::string::npos);
    EXPECT_NE(refused("\"deployment/jp/web\"", "\"job/jp/web\"").find("job"), std::string::npos);
    const std::string range = refused("max_replicas = 4", "max_replicas = 0");
    EXPECT_NE(range.find("max_replicas"), std::string::npos) << range;
    EXPECT_NE(range.find("out of range"), std::string::npos) << range;
    const std::string missing = refused("\"deployment/jp/web\"", "\"deployment/jp/api\"");
    EXPECT_NE(missing.find("jp/api"), std::string::npos) << missing;
    EXPECT_NE(missing.find("404"), std::string::npos) << missing;
    EXPECT_NE(refused(knobs.url(), "http://127.0.0.1:1").find("127.0.0.1:1"), std::string::npos);
    // Nothing was written anywhere.
    EXPECT_EQ(kube.count_requests("PATCH"), 0);
    EXPECT_EQ(knobs.puts(), 0);
}

TEST_F(RemoteKnobsAgent, ATamperedAuditChainIsReportedAndNeverRepaired) {
    {
        auto agent = start_agent();
        ASSERT_TRUE(agent->port()) << agent->err();
        ASSERT_TRUE(eventually([&] { return changed_both(); })) << agent->err();
        ASSERT_EQ(agent->stop(SIGTERM), 0) << agent->err();
    }
    const fs::path ledger = dir / "ledger.db";
    ASSERT_EQ(run_joulepilot("audit verify --ledger " + ledger.string()).status, 0);
    // Someone edits what the change recorded: which policy asked for it.
    const std::string edit = "sqlite3 " + ledger.string() +
                             " \"UPDATE audit SET body_json = replace(body_json, 'harmful', 'harmless') WHERE kind = "
                             "'change'\"";
    if (std::system("command -v sqlite3 >/dev/null") != 0) GTEST_SKIP() << "needs the sqlite3 program to tamper";
    ASSERT_EQ(std::system(edit.c_str()), 0);
    const CommandResult broken = run_joulepilot("audit verify --json --ledger " + ledger.string());
    EXPECT_EQ(broken.status, 1) << broken.output;
    const auto verdict = nlohmann::json::parse(broken.output, nullptr, false);
    ASSERT_TRUE(verdict.is_object()) << broken.output;
    EXPECT_FALSE(verdict["intact"].get<bool>());
    EXPECT_GT(verdict["first_bad_seq"].get<int>(), 0);

    // A new run appends to the trail, and the break is still reported at the same place afterwards.
    {
        auto agent = start_agent();
        ASSERT_TRUE(agent->port()) << agent->err();
        ASSERT_TRUE(eventually([&] { return changed_both(); })) << agent->err();
        ASSERT_EQ(agent->stop(SIGTERM), 0) << agent->err();
    }
    const CommandResult again = run_joulepilot("audit verify --json --ledger " + ledger.string());
    EXPECT_EQ(again.status, 1) << again.output;
    const auto verdict_again = nlohmann::json::parse(again.output, nullptr, false);
    ASSERT_TRUE(verdict_again.is_object()) << again.output;
    EXPECT_EQ(verdict_again["first_bad_seq"], verdict["first_bad_seq"]);
}

}  // namespace
