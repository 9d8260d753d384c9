// End to end: `joulepilot schedule run --kube --once` against the Kubernetes test double (a cpp-httplib
// server on 127.0.0.1 that follows the API contract; tests/support/kube_test_double.hpp), with a kubeconfig
// pointing at it: Jobs created suspended, the one whose slot has come released, a dry run that writes
// nothing, the state in the ledger across restarts (a Job suspended again by someone else is not released
// twice), the state of an earlier JSON state file imported, `--state FILE`, plans with and without
// per-job deadlines, and usage errors. `schedule run --jobs --sites` (planned by the command itself): a job
// added to the jobs file is created on the next pass, and a changed carbon CSV re-plans (loop mode).
#include <sys/wait.h>

#include <csignal>
#include <thread>

#include <array>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/joulepilot_process.hpp"

#include "support/kube_test_double.hpp"

namespace {

// The binary's runner is shared with the other end-to-end tests (tests/support/joulepilot_process.hpp).
using joulepilot::testing::CommandResult;
using joulepilot::testing::run_joulepilot;

// The first line of output that is a JSON object (the pass report of --json).
nlohmann::json pass_json(const std::string& output) {
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("{")) return nlohmann::json::parse(line);
    }
    return nullptr;
}

std::string utc(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::array<char, 32> text{};
    std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&seconds));
    return text.data();
}

class ScheduleRunCli : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("joulepilot_kube_e2e_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "kubeconfig") << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                                             "clusters:\n- name: double\n  cluster: {server: \""
                                          << api.url()
                                          << "\"}\ncontexts:\n- name: test\n  context: {cluster: double, user: u, "
                                             "namespace: batch}\nusers:\n- name: u\n  user: {token: e2e-token}\n";
        api.require_token("e2e-token");
        std::ofstream(dir / "job.yaml") << "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: e2e\nspec:\n"
                                           "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n"
                                           "      - name: main\n        image: busybox\n        command: [\"true\"]\n";
        const auto now = std::chrono::system_clock::now();
        const auto hour = std::chrono::hours(1);
        // "due" started a minute ago (release now); "later" starts in an hour (created, left suspended).
        const nlohmann::json plan = {
            {"jobs",
             {{{"id", "due"}, {"site", "lab"}, {"start", utc(now - std::chrono::minutes(1))},
               {"finish", utc(now + hour)},
               {"pieces", {{{"start", utc(now - std::chrono::minutes(1))}, {"end", utc(now + 2 * hour)}, {"run_hours", 1}}}}},
              {{"id", "later"}, {"site", "lab"}, {"start", utc(now + hour)}, {"finish", utc(now + 2 * hour)},
               {"pieces", {{{"start", utc(now + hour)}, {"end", utc(now + 2 * hour)}, {"run_hours", 1}}}}}}}};
        std::ofstream(dir / "plan.json") << plan.dump(2);
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    // Without --state, the ledger in the test's folder keeps the controller state.
    std::string args(const std::string& extra) const {
        const std::string state =
            extra.find("--state") == std::string::npos ? " --ledger " + (dir / "ledger.db").string() : "";
        return "schedule run --plan " + (dir / "plan.json").string() + " --kube --kubeconfig " +
               (dir / "kubeconfig").string() + " --job-template " + (dir / "job.yaml").string() + " --once --json" +
               state + " " + extra;
    }
    // Suspends a Job again, as Kueue or kubectl would.
    void suspend_again(const std::string& name) {
        nlohmann::json job = *api.job("batch", name);
        job["spec"]["suspend"] = true;
        api.add_job("batch", job);
    }

    joulepilot::testing::KubeTestDouble api;
    std::filesystem::path dir;
};

TEST_F(ScheduleRunCli, CreatesSuspendedJobsAndReleasesTheOneWhoseSlotCame) {
    const CommandResult first = run_joulepilot(args(""));
    ASSERT_EQ(first.status, 0) << first.output;
    const nlohmann::json pass = pass_json(first.output);
    ASSERT_TRUE(pass.is_object()) << first.output;
    EXPECT_EQ(pass["counts"]["released"], 1) << first.output;
    EXPECT_EQ(pass["counts"]["created"], 1) << first.output;
    ASSERT_TRUE(api.job("batch", "e2e-due").has_value());
    EXPECT_FALSE(api.job("batch", "e2e-due")->at("spec").at("suspend").get<bool>());
    EXPECT_TRUE(api.job("batch", "e2e-later")->at("spec").at("suspend").get<bool>());
    EXPECT_TRUE(std::filesystem::exists(dir / "ledger.db"));
    EXPECT_FALSE(std::filesystem::exists(dir / "plan.json.state.json"));
    // The plan in SetUp is written the way older versions wrote it: no per-job deadline.
    EXPECT_NE(first.output.find("warning: " + (dir / "plan.json").string() + ": 2 of 2 jobs carry no deadline"),
              std::string::npos)
        << first.output;

    const CommandResult second = run_joulepilot(args(""));
    ASSERT_EQ(second.status, 0) << second.output;
    EXPECT_EQ(pass_json(second.output)["counts"]["running"], 1) << second.output;
    EXPECT_EQ(api.releases("batch", "e2e-due"), 1);
    EXPECT_EQ(api.job_count(), 2U);
}

// A restart is a new process: only the ledger knows that "due" was released. Suspended again by someone
// else, it must stay suspended ("held"); with its state lost it would look like a Job never released.
TEST_F(ScheduleRunCli, TheLedgerKeepsTheStateAcrossRestartsAndNothingIsReleasedTwice) {
    const CommandResult first = run_joulepilot(args(""));
    ASSERT_EQ(first.status, 0) << first.output;
    ASSERT_EQ(api.releases("batch", "e2e-due"), 1);
    suspend_again("e2e-due");

    const CommandResult second = run_joulepilot(args(""));
    ASSERT_EQ(second.status, 0) << second.output;
    const nlohmann::json pass = pass_json(second.output);
    EXPECT_EQ(pass["counts"]["held"], 1) << second.output;
    EXPECT_EQ(pass["counts"]["waiting"], 1) << second.output;
    EXPECT_EQ(api.releases("batch", "e2e-due"), 1);
    EXPECT_TRUE(api.job("batch", "e2e-due")->at("spec").at("suspend").get<bool>());
    EXPECT_EQ(api.job_count(), 2U);

    // The rows are in the ledger's job_state table, keyed by namespace and id.
    const CommandResult exported = run_joulepilot("ledger export --table job_state --ledger " + (dir / "ledger.db").string());
    EXPECT_EQ(exported.status, 0) << exported.output;
    EXPECT_NE(exported.output.find("kube/batch/due"), std::string::npos) << exported.output;
}

// The state file earlier versions kept beside the plan is imported into the ledger once.
TEST_F(ScheduleRunCli, AnEarlierStateFileIsImportedIntoTheLedger) {
    const CommandResult before = run_joulepilot(args("--state " + (dir / "plan.json.state.json").string()));
    ASSERT_EQ(before.status, 0) << before.output;
    ASSERT_TRUE(std::filesystem::exists(dir / "plan.json.state.json"));
    EXPECT_FALSE(std::filesystem::exists(dir / "ledger.db"));
    suspend_again("e2e-due");

    const CommandResult after = run_joulepilot(args(""));
    ASSERT_EQ(after.status, 0) << after.output;
    EXPECT_NE(after.output.find("imported 2 job state(s)"), std::string::npos) << after.output;
    EXPECT_EQ(pass_json(after.output)["counts"]["held"], 1) << after.output;
    EXPECT_EQ(api.releases("batch", "e2e-due"), 1);
    const CommandResult again = run_joulepilot(args(""));
    EXPECT_EQ(again.output.find("imported"), std::string::npos) << again.output;
}

TEST_F(ScheduleRunCli, APlanWithDeadlinesGivesNoWarningAndIsKeptToThem) {
    const auto now = std::chrono::system_clock::now();
    const auto hour = std::chrono::hours(1);
    // "late" was planned 3 h ago for 1 h with a deadline 2 h from now: released late, still in time.
    // "past" was planned 3 h ago for 1 h with a deadline in 30 min: not released.
    const auto entry = [&](const char* id, std::chrono::system_clock::time_point deadline) {
        return nlohmann::json{{"id", id},
                              {"site", "lab"},
                              {"start", utc(now - 3 * hour)},
                              {"finish", utc(now - 2 * hour)},
                              {"earliest_start", utc(now - 3 * hour)},
                              {"deadline", utc(deadline)},
                              {"pieces", {{{"start", utc(now - 3 * hour)}, {"end", utc(now - 2 * hour)}, {"run_hours", 1}}}}};
    };
    std::ofstream(dir / "plan.json") << nlohmann::json{{"jobs", {entry("late", now + 2 * hour), entry("past", now + hour / 2)}}}.dump();
    const CommandResult r = run_joulepilot(args(""));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("carry no deadline"), std::string::npos) << r.output;
    const nlohmann::json pass = pass_json(r.output);
    EXPECT_EQ(pass["counts"]["released"], 1) << r.output;
    EXPECT_EQ(pass["counts"]["deadline_missed"], 1) << r.output;
    EXPECT_EQ(api.releases("batch", "e2e-late"), 1);
    EXPECT_EQ(api.releases("batch", "e2e-past"), 0);
}

TEST_F(ScheduleRunCli, DryRunWritesNothing) {
    const CommandResult r = run_joulepilot(args("--dry-run"));
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(pass_json(r.output)["counts"]["would_create"], 2) << r.output;
    EXPECT_EQ(api.job_count(), 0U);
    EXPECT_FALSE(std::filesystem::exists(dir / "plan.json.state.json"));
    EXPECT_FALSE(std::filesystem::exists(dir / "ledger.db"));  // not even an empty ledger
}

TEST_F(ScheduleRunCli, ForbiddenIsAFailureNamingTheGrant) {
    api.forbid("create", "jobs");
    const CommandResult r = run_joulepilot(args(""));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("verb 'create' on resource 'jobs'"), std::string::npos) << r.output;
}

TEST_F(ScheduleRunCli, UsageErrors) {
    const CommandResult help = run_joulepilot("schedule run --help");
    EXPECT_EQ(help.status, 0);
    for (const char* option :
         {"--plan", "--kube", "--namespace", "--dry-run", "--once", "--interval", "--json", "--ledger", "--state"})
        EXPECT_NE(help.output.find(option), std::string::npos) << option;
    const CommandResult no_kube = run_joulepilot("schedule run --once --plan " + (dir / "plan.json").string());
    EXPECT_EQ(no_kube.status, 2) << no_kube.output;
    EXPECT_NE(no_kube.output.find("--kube"), std::string::npos);
    std::ofstream(dir / "bad.json") << "{\"jobs\": 3}";
    const CommandResult bad_plan = run_joulepilot("schedule run --once --kube --kubeconfig " + (dir / "kubeconfig").string() +
                                                  " --plan " + (dir / "bad.json").string());
    EXPECT_EQ(bad_plan.status, 2) << bad_plan.output;
    EXPECT_NE(bad_plan.output.find("bad.json"), std::string::npos) << bad_plan.output;
    const CommandResult both = run_joulepilot(args("--state " + (dir / "s.json").string() + " --ledger " +
                                                   (dir / "l.db").string()));
    EXPECT_EQ(both.status, 2) << both.output;
    EXPECT_NE(both.output.find("--state"), std::string::npos) << both.output;
    const CommandResult bad_ledger = run_joulepilot("schedule run --once --kube --kubeconfig " +
                                                    (dir / "kubeconfig").string() + " --plan " +
                                                    (dir / "plan.json").string() + " --ledger " + dir.string());
    EXPECT_EQ(bad_ledger.status, 2) << bad_ledger.output;
    EXPECT_NE(bad_ledger.output.find("is a folder"), std::string::npos) << bad_ledger.output;
}

// `schedule run --jobs FILE --sites FILE`: the command plans (and re-plans) itself. The carbon CSV covers
// the hours around now, so that the plan made from the current time has data.
class ScheduleRunFromJobs : public ScheduleRunCli {
protected:
    void SetUp() override {
        ScheduleRunCli::SetUp();
        write_carbon(100);
        std::ofstream(dir / "sites.json")
            << R"({"objective": {"carbon_price_usd_per_t": 100},
                 "sites": [{"name": "lab", "gpus": 8, "carbon_csv": "carbon.csv", "pue": 1.2,
                 "price_usd_per_kwh": 0.1, "gpu_hour_usd": 1}]})";
        write_jobs({"a"});
    }
    // Hourly intensity from 3 hours ago for 3 days: `base` plus a daily swing, so the plan has a choice.
    void write_carbon(int base) {
        std::ofstream out(dir / "carbon.csv");
        out << "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO\xe2\x82\x82" "eq/kWh (direct),"
               "Carbon Intensity gCO\xe2\x82\x82" "eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
               "Data Estimated,Data Estimation Method\n";
        const auto now = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now());
        for (int h = -3; h < 72; ++h) {
            const std::time_t t = std::chrono::system_clock::to_time_t(now + std::chrono::hours(h));
            std::array<char, 32> text{};
            std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
            const int value = base + 50 * ((h + 24) % 24 < 12 ? 1 : 0);
            out << text.data() << ",Test,Test,TT," << value << "," << value << ",0,0,test,false,\n";
        }
    }
    void write_jobs(const std::vector<std::string>& ids) {
        nlohmann::json jobs = nlohmann::json::array();
        for (const std::string& id : ids)
            jobs.push_back({{"id", id}, {"gpus", 1}, {"duration_h", 1}, {"power_w", 500}, {"slack_h", 24}});
        std::ofstream(dir / "jobs.json") << jobs.dump();
    }
    std::string run_args(const std::string& extra) const {
        return "schedule run --jobs " + (dir / "jobs.json").string() + " --sites " + (dir / "sites.json").string() +
               " --kube --kubeconfig " + (dir / "kubeconfig").string() + " --job-template " +
               (dir / "job.yaml").string() + " --json --ledger " + (dir / "ledger.db").string() + " " + extra;
    }
    static std::string read_text(const std::filesystem::path& path) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    // Starts `schedule run` in loop mode in the background (output to `out`); its process id.
    pid_t start_loop(const std::filesystem::path& out) const {
        const std::string command =
            std::string(JOULEPILOT_BIN) + " " + run_args("--interval 1") + " > " + out.string() + " 2>&1 & echo $!";
        FILE* pipe = popen(command.c_str(), "r");
        if (pipe == nullptr) return -1;
        std::array<char, 64> buffer{};
        const bool read = fgets(buffer.data(), buffer.size(), pipe) != nullptr;
        pclose(pipe);
        return read ? static_cast<pid_t>(std::atol(buffer.data())) : -1;
    }
    // Waits (at most `limit`: a guard against a hang, not a timing assertion) until `path` contains `what`.
    static bool wait_for(const std::filesystem::path& path, const std::string& what,
                         std::chrono::seconds limit = std::chrono::seconds(30)) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < until) {
            if (read_text(path).find(what) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }
};

TEST_F(ScheduleRunFromJobs, AJobAddedToTheJobsFileIsCreatedSuspendedOnTheNextPass) {
    const CommandResult first = run_joulepilot(run_args("--once"));
    ASSERT_EQ(first.status, 0) << first.output;
    EXPECT_NE(first.output.find("planned 1 job(s)"), std::string::npos) << first.output;
    EXPECT_EQ(pass_json(first.output)["counts"]["created"], 1) << first.output;
    ASSERT_TRUE(api.job("batch", "e2e-a").has_value()) << first.output;
    EXPECT_TRUE(api.job("batch", "e2e-a")->at("spec").at("suspend").get<bool>());
    EXPECT_FALSE(api.job("batch", "e2e-b").has_value());

    write_jobs({"a", "b"});
    const CommandResult second = run_joulepilot(run_args("--once"));
    ASSERT_EQ(second.status, 0) << second.output;
    const nlohmann::json pass = pass_json(second.output);
    EXPECT_EQ(pass["counts"]["created"], 1) << second.output;
    EXPECT_EQ(pass["counts"]["waiting"], 1) << second.output;
    ASSERT_TRUE(api.job("batch", "e2e-b").has_value()) << second.output;
    EXPECT_TRUE(api.job("batch", "e2e-b")->at("spec").at("suspend").get<bool>());
    EXPECT_EQ(api.job_count(), 2U);
}

// Loop mode: a changed carbon CSV (named by the sites file) re-plans before the next pass, and says so.
TEST_F(ScheduleRunFromJobs, AChangedCarbonCsvRePlansAndSaysWhy) {
    const std::filesystem::path out = dir / "out.txt";
    const pid_t pid = start_loop(out);
    ASSERT_GT(pid, 0);
    const bool first_pass = wait_for(out, "\"counts\"");
    write_carbon(300);
    // Another size is enough for the watcher, but make the time differ too (coarse file-system clocks).
    std::filesystem::last_write_time(dir / "carbon.csv",
                                     std::filesystem::last_write_time(dir / "carbon.csv") + std::chrono::seconds(5));
    const bool replanned = first_pass && wait_for(out, "\"event\":\"replanned\"");
    kill(pid, SIGTERM);
    EXPECT_TRUE(wait_for(out, "stopping:")) << read_text(out);
    ASSERT_TRUE(first_pass) << read_text(out);
    ASSERT_TRUE(replanned) << read_text(out);
    const std::string text = read_text(out);
    std::istringstream lines(text);
    nlohmann::json event;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("\"replanned\"") != std::string::npos && line.starts_with("{")) event = nlohmann::json::parse(line);
    }
    ASSERT_TRUE(event.is_object()) << text;
    EXPECT_EQ(event["changed"], nlohmann::json::array({(dir / "carbon.csv").string()})) << text;
    EXPECT_EQ(event["planned"], 1) << text;
    EXPECT_NE(text.find("re-planned at"), std::string::npos) << text;
    EXPECT_EQ(api.job_count(), 1U);
}

TEST_F(ScheduleRunFromJobs, PlanAndJobsAreMutuallyExclusive) {
    const CommandResult both = run_joulepilot(run_args("--once --plan " + (dir / "plan.json").string()));
    EXPECT_EQ(both.status, 2) << both.output;
    EXPECT_NE(both.output.find("not both"), std::string::npos) << both.output;
    const CommandResult neither = run_joulepilot("schedule run --once --kube --kubeconfig " + (dir / "kubeconfig").string());
    EXPECT_EQ(neither.status, 2) << neither.output;
    EXPECT_NE(neither.output.find("--jobs FILE --sites FILE"), std::string::npos) << neither.output;
    const CommandResult half = run_joulepilot("schedule run --once --kube --kubeconfig " + (dir / "kubeconfig").string() +
                                              " --jobs " + (dir / "jobs.json").string());
    EXPECT_EQ(half.status, 2) << half.output;
    EXPECT_NE(half.output.find("go together"), std::string::npos) << half.output;
    EXPECT_EQ(api.job_count(), 0U);
}

}  // namespace
