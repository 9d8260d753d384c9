// KubeController (kube_controller.cpp) against the Kubernetes test double, on a manual clock: Jobs created
// suspended and released at their slot, adoption by label, deadlines, restarts from the state store, an
// API that is down and comes back (released exactly once), dry runs, interruptible pieces and re-plans.

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ledger/ledger.hpp"
#include "sched/kube_controller.hpp"
#include "sched/ledger_job_state_store.hpp"
#include "sched/report.hpp"
#include "unit/act/remote/remote_fixture.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using act::kube::KubeClient;
using act::kube::test::make_client;
using act::kube::test::SleepRecorder;
using joulepilot::testing::KubeTestDouble;
using test::kHour;
using test::kJune1;
using ::testing::HasSubstr;

const nlohmann::json kTemplate = nlohmann::json::parse(R"({
    "apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "train", "labels": {"team": "ml"}},
    "spec": {"backoffLimit": 2,
             "template": {"spec": {"restartPolicy": "Never",
                                   "containers": [{"name": "main", "image": "busybox", "command": ["true"]}]}}}})");

KubeControllerOptions batch_options(bool dry_run = false, std::optional<std::string> site = std::nullopt) {
    KubeControllerOptions options;
    options.ns = "batch";
    options.dry_run = dry_run;
    options.site = std::move(site);
    return options;
}

PlannedJob planned(const std::string& id, double start, double hours, std::optional<double> deadline = std::nullopt) {
    PlannedJob job;
    job.id = id;
    job.site = "frankfurt";
    job.pieces.push_back({start, start + std::ceil(hours) * kHour, hours});
    job.finish_unix_s = start + hours * kHour;
    job.deadline_unix_s = deadline;
    return job;
}

struct TemplateFile {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("jp-kube-ctl-" + std::to_string(::getpid()) + "-" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    TemplateFile() {
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "job.json") << kTemplate.dump();
    }
    ~TemplateFile() { std::filesystem::remove_all(dir); }
    [[nodiscard]] JobTemplates templates() const { return std::move(*JobTemplates::open(dir / "job.json")); }
};

struct Harness {
    KubeTestDouble api;
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps, 3);
    core::ManualClock clock{core::Seconds(kJune1)};
    InMemoryJobStateStore store;
    TemplateFile files;

    KubeController controller(KubeControllerOptions options = {}, bool with_template = true) {
        if (options.ns == "default") options.ns = "batch";
        auto made = KubeController::create(client, store, clock,
                                           with_template ? files.templates() : JobTemplates::none(), options);
        if (!made) throw std::runtime_error(made.error().message);
        return std::move(*made);
    }
    bool suspended(const std::string& name) const { return api.job("batch", name)->at("spec").value("suspend", false); }
};

const JobOutcome& outcome(const PassReport& report, const std::string& id) {
    for (const JobOutcome& o : report.jobs) {
        if (o.id == id) return o;
    }
    throw std::runtime_error("no outcome for " + id);
}

TEST(KubeController, CreatesSuspendedJobsAndReleasesEachAtItsSlot) {
    Harness h;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("train-a", kJune1 + kHour, 2), planned("Eval_B", kJune1 + 3 * kHour, 1)});

    PassReport first = ctl.reconcile();
    EXPECT_EQ(outcome(first, "train-a").action, "created");
    EXPECT_EQ(outcome(first, "Eval_B").action, "created");
    ASSERT_TRUE(h.api.job("batch", "train-train-a").has_value());
    const nlohmann::json job = *h.api.job("batch", "train-eval-b");
    EXPECT_TRUE(job["spec"]["suspend"].get<bool>());
    EXPECT_EQ(job["metadata"]["labels"][std::string(kJobIdLabel)], "Eval_B");
    EXPECT_EQ(job["metadata"]["labels"]["team"], "ml");
    EXPECT_EQ(job["metadata"]["annotations"]["joulepilot.io/planned-start"], utc_text(kJune1 + 3 * kHour));
    EXPECT_EQ(job["spec"]["backoffLimit"], 2);

    h.clock.advance(core::Seconds(kHour - 1));
    EXPECT_EQ(outcome(ctl.reconcile(), "train-a").action, "waiting");
    EXPECT_TRUE(h.suspended("train-train-a"));

    h.clock.advance(core::Seconds(1));
    PassReport at_slot = ctl.reconcile();
    EXPECT_EQ(outcome(at_slot, "train-a").action, "released");
    EXPECT_EQ(outcome(at_slot, "Eval_B").action, "waiting");
    EXPECT_FALSE(h.suspended("train-train-a"));
    EXPECT_TRUE(h.suspended("train-eval-b"));

    h.clock.advance(core::Seconds(2 * kHour));
    PassReport later = ctl.reconcile();
    EXPECT_EQ(outcome(later, "train-a").action, "running");
    EXPECT_EQ(outcome(later, "Eval_B").action, "released");
    ctl.reconcile();
    EXPECT_EQ(h.api.releases("batch", "train-train-a"), 1);
    EXPECT_EQ(h.api.releases("batch", "train-eval-b"), 1);
    EXPECT_EQ(h.api.job_count(), 2U);
    EXPECT_EQ(ctl.states().at("train-a").releases, 1);
}

TEST(KubeController, AdoptsAnExistingSuspendedJobByLabel) {
    Harness h;
    h.api.add_job("batch", {{"metadata", {{"name", "owner-made"}, {"labels", {{std::string(kJobIdLabel), "train-a"}}}}},
                            {"spec", {{"suspend", true}}}});
    KubeController ctl = h.controller({}, /*with_template=*/false);
    ctl.set_plan({planned("train-a", kJune1, 1)});
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "train-a").action, "released");
    EXPECT_THAT(outcome(report, "train-a").message, HasSubstr("adopted"));
    EXPECT_EQ(h.api.releases("batch", "owner-made"), 1);
    EXPECT_EQ(h.api.job_count(), 1U);
    EXPECT_TRUE(ctl.states().at("train-a").adopted);
}

TEST(KubeController, WithoutTemplateOrJobSaysWhatToDo) {
    Harness h;
    KubeController ctl = h.controller({}, /*with_template=*/false);
    ctl.set_plan({planned("train-a", kJune1, 1)});
    const JobOutcome o = outcome(ctl.reconcile(), "train-a");
    EXPECT_EQ(o.action, "no_template");
    EXPECT_THAT(o.message, HasSubstr("joulepilot.io/job-id=train-a"));
    EXPECT_EQ(h.api.job_count(), 0U);
}

TEST(KubeController, NeverReleasesAfterTheDeadlineAndSaysSo) {
    Harness h;
    KubeController ctl = h.controller();
    // 2 h of run, deadline 4 h after the planned start: the latest release is start + 2 h.
    ctl.set_plan({planned("train-a", kJune1, 2, kJune1 + 4 * kHour)});
    h.clock.advance(core::Seconds(-kHour));
    ctl.reconcile();  // created before its slot
    h.clock.advance(core::Seconds(3 * kHour + 1));  // the controller was away through the slot
    const JobOutcome o = outcome(ctl.reconcile(), "train-a");
    EXPECT_EQ(o.action, "deadline_missed");
    EXPECT_THAT(o.message, HasSubstr("NOT released"));
    EXPECT_THAT(o.message, HasSubstr(utc_text(kJune1 + 4 * kHour)));
    EXPECT_TRUE(h.suspended("train-train-a"));
    EXPECT_EQ(h.api.releases("batch", "train-train-a"), 0);
    EXPECT_EQ(ctl.states().at("train-a").status, "deadline_missed");
}

TEST(KubeController, WithoutADeadlineTheLastPlannedSlotBounds) {
    Harness h;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1, 1.5)});  // occupies 2 slots: release by start + 0.5 h
    h.clock.advance(core::Seconds(0.5 * kHour + 1));
    const JobOutcome o = outcome(ctl.reconcile(), "a");
    EXPECT_EQ(o.action, "deadline_missed");
    EXPECT_THAT(o.message, HasSubstr("planned window end"));
}

TEST(KubeController, SurvivesARestartFromTheStateFile) {
    Harness h;
    const std::filesystem::path state = h.files.dir / "state.json";
    const std::vector<PlannedJob> plan{planned("a", kJune1, 1), planned("b", kJune1 + 2 * kHour, 1)};
    {
        JsonFileJobStateStore store(state);
        auto ctl = std::move(*KubeController::create(h.client, store, h.clock, h.files.templates(), batch_options()));
        ctl.set_plan(plan);
        const PassReport report = ctl.reconcile();
        EXPECT_EQ(outcome(report, "a").action, "released");
        EXPECT_EQ(outcome(report, "b").action, "created");
    }
    h.api.clear_requests();
    JsonFileJobStateStore store(state);
    auto ctl = std::move(*KubeController::create(h.client, store, h.clock, h.files.templates(), batch_options()));
    EXPECT_EQ(ctl.states().at("a").releases, 1);
    EXPECT_EQ(ctl.states().at("b").kube_name, "train-b");
    ctl.set_plan(plan);
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "a").action, "running");
    EXPECT_EQ(outcome(report, "b").action, "waiting");
    EXPECT_EQ(h.api.count_requests("PATCH"), 0);
    EXPECT_EQ(h.api.count_requests("POST"), 0);
    h.clock.advance(core::Seconds(2 * kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "b").action, "released");
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
    EXPECT_EQ(h.api.releases("batch", "train-b"), 1);
}

std::unique_ptr<ledger::Ledger> open_ledger(const std::filesystem::path& path) {
    ledger::LedgerOptions options;
    options.path = path;
    options.compaction_interval = core::Seconds(0);
    auto opened = ledger::Ledger::open(options);
    if (!opened) throw std::runtime_error(opened.error().message);
    return std::move(*opened);
}

// The state in the ledger across a restart: a Job released before the restart and suspended again by
// someone else since is "held", not released a second time (without the state it would be released).
TEST(KubeController, SurvivesARestartFromTheLedgerAndNeverReleasesTwice) {
    Harness h;
    const std::filesystem::path path = h.files.dir / "ledger.db";
    const std::vector<PlannedJob> plan{planned("a", kJune1, 3), planned("b", kJune1 + 2 * kHour, 1)};
    {
        auto ledger = open_ledger(path);
        LedgerJobStateStore store(*ledger, h.clock, kube_scope("batch"));
        auto ctl = std::move(*KubeController::create(h.client, store, h.clock, h.files.templates(), batch_options()));
        ctl.set_plan(plan);
        const PassReport report = ctl.reconcile();
        EXPECT_EQ(outcome(report, "a").action, "released");
        EXPECT_EQ(outcome(report, "b").action, "created");
    }  // the process ends: controller and ledger closed
    nlohmann::json job = *h.api.job("batch", "train-a");
    job["spec"]["suspend"] = true;  // Kueue (or kubectl) suspends it again while we are away
    h.api.add_job("batch", job);
    h.api.clear_requests();

    auto ledger = open_ledger(path);
    LedgerJobStateStore store(*ledger, h.clock, kube_scope("batch"));
    auto ctl = std::move(*KubeController::create(h.client, store, h.clock, h.files.templates(), batch_options()));
    EXPECT_EQ(ctl.states().at("a").releases, 1);
    EXPECT_EQ(ctl.states().at("b").kube_name, "train-b");
    ctl.set_plan(plan);
    h.clock.advance(core::Seconds(kHour));
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "a").action, "held");
    EXPECT_EQ(outcome(report, "b").action, "waiting");
    EXPECT_EQ(h.api.count_requests("PATCH"), 0);
    EXPECT_EQ(h.api.count_requests("POST"), 0);
    h.clock.advance(core::Seconds(kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "b").action, "released");
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
    EXPECT_EQ(h.api.releases("batch", "train-b"), 1);
    EXPECT_TRUE(h.suspended("train-a"));
}

TEST(KubeController, ThePlansDeadlineAllowsALateReleaseThatStillEndsInTime) {
    Harness h;
    KubeController ctl = h.controller();
    // 1 h planned in the first slot; the job's own deadline is 4 h later. Away for 2 h: the last planned
    // slot is over, but starting now it still ends 1 h before the deadline.
    PlannedJob job = planned("a", kJune1, 1, kJune1 + 4 * kHour);
    job.earliest_start_unix_s = kJune1;
    ctl.set_plan({job});
    h.clock.advance(core::Seconds(2 * kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "released");
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
}

TEST(KubeController, NeverReleasesBeforeTheEarliestStart) {
    Harness h;
    KubeController ctl = h.controller();
    PlannedJob job = planned("a", kJune1, 1, kJune1 + 6 * kHour);
    job.earliest_start_unix_s = kJune1 + 2 * kHour;  // a plan edited by hand to start too early
    ctl.set_plan({job});
    const JobOutcome early = outcome(ctl.reconcile(), "a");
    EXPECT_EQ(early.action, "created") << early.message;
    EXPECT_THAT(early.message, HasSubstr("earliest start"));
    h.clock.advance(core::Seconds(kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "waiting");
    EXPECT_EQ(h.api.releases("batch", "train-a"), 0);
    h.clock.advance(core::Seconds(kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "released");
}

TEST(KubeController, LostStateDoesNotReleaseTwice) {
    Harness h;
    {
        KubeController ctl = h.controller();
        ctl.set_plan({planned("a", kJune1, 1)});
        EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "released");
    }
    InMemoryJobStateStore empty;
    auto ctl = std::move(*KubeController::create(h.client, empty, h.clock, h.files.templates(), batch_options()));
    ctl.set_plan({planned("a", kJune1, 1)});
    const JobOutcome o = outcome(ctl.reconcile(), "a");
    EXPECT_EQ(o.action, "running");
    EXPECT_THAT(o.message, HasSubstr("adopted (already running, not released by joulepilot)"));
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
    EXPECT_EQ(empty.load()->front().releases, 1);
}

TEST(KubeController, ApiDownThenUp_ReleasedExactlyOnce) {
    Harness h;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1 + kHour, 1), planned("b", kJune1 + kHour, 1)});
    ctl.reconcile();  // both created
    h.clock.advance(core::Seconds(kHour));
    h.api.set_down(true);
    const PassReport down = ctl.reconcile();
    EXPECT_TRUE(down.api_unavailable);
    EXPECT_EQ(outcome(down, "a").action, "error");
    EXPECT_THAT(outcome(down, "a").message, HasSubstr("3 attempts"));
    EXPECT_EQ(outcome(down, "b").action, "skipped");
    EXPECT_EQ(ctl.states().at("a").attempts, 1);
    EXPECT_EQ(h.sleeps.delays.size(), 2U);  // back-off between the client's attempts

    h.api.set_down(false);
    const PassReport up = ctl.reconcile();
    EXPECT_FALSE(up.api_unavailable);
    EXPECT_EQ(outcome(up, "a").action, "released");
    EXPECT_EQ(outcome(up, "b").action, "released");
    EXPECT_EQ(ctl.states().at("a").attempts, 0);
    ctl.reconcile();
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
    EXPECT_EQ(h.api.releases("batch", "train-b"), 1);
}

TEST(KubeController, ReleaseWhoseReplyIsLostIsNotRepeated) {
    Harness h;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1 + kHour, 1)});
    ctl.reconcile();
    h.clock.advance(core::Seconds(kHour));
    h.api.lose_next_replies(1, "PATCH");  // the server releases the Job, the reply never arrives
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "a").action, "released");
    EXPECT_EQ(h.api.count_requests("PATCH"), 2);  // retried, 409 on the stale version, read: done
    ctl.reconcile();
    EXPECT_EQ(h.api.releases("batch", "train-a"), 1);
}

TEST(KubeController, DryRunWritesNothing) {
    Harness h;
    KubeController ctl = h.controller(batch_options(/*dry_run=*/true));
    ctl.set_plan({planned("a", kJune1, 1), planned("b", kJune1 + kHour, 1)});
    const PassReport report = ctl.reconcile();
    EXPECT_TRUE(report.dry_run);
    EXPECT_EQ(outcome(report, "a").action, "would_create");
    EXPECT_THAT(outcome(report, "a").message, HasSubstr("batch/train-a"));
    EXPECT_EQ(h.api.job_count(), 0U);
    EXPECT_EQ(h.store.saves(), 0U);
    EXPECT_EQ(h.api.count_requests("POST") + h.api.count_requests("PATCH"), 0);

    h.api.add_job("batch", {{"metadata", {{"name", "x"}, {"labels", {{std::string(kJobIdLabel), "a"}}}}},
                            {"spec", {{"suspend", true}}}});
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "would_release");
    EXPECT_TRUE(h.suspended("x"));
}

TEST(KubeController, InterruptiblePiecesAreReleasedAndPaused) {
    Harness h;
    KubeController ctl = h.controller();
    PlannedJob job = planned("a", kJune1, 1);
    job.pieces.push_back({kJune1 + 3 * kHour, kJune1 + 4 * kHour, 1});
    ctl.set_plan({job});
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "released");
    h.clock.advance(core::Seconds(kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "paused");
    EXPECT_TRUE(h.suspended("train-a"));
    h.clock.advance(core::Seconds(kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "waiting");
    h.clock.advance(core::Seconds(kHour));
    const JobOutcome second = outcome(ctl.reconcile(), "a");
    EXPECT_EQ(second.action, "released");
    EXPECT_THAT(second.message, HasSubstr("piece 2 of 2"));
    EXPECT_EQ(h.api.releases("batch", "train-a"), 2);
    h.clock.advance(core::Seconds(2 * kHour));
    EXPECT_EQ(outcome(ctl.reconcile(), "a").action, "running");  // the last piece runs to its end
}

TEST(KubeController, ReplanKeepsReleasedJobsAndReportsDroppedOnes) {
    Harness h;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1, 1), planned("b", kJune1 + kHour, 1)});
    ctl.reconcile();
    ctl.set_plan({planned("c", kJune1 + 2 * kHour, 1)});
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "c").action, "created");
    EXPECT_EQ(outcome(report, "a").action, "dropped");
    EXPECT_THAT(outcome(report, "a").message, HasSubstr("left running"));
    EXPECT_THAT(outcome(report, "b").message, HasSubstr("left suspended"));
    EXPECT_FALSE(h.suspended("train-a"));
    EXPECT_TRUE(h.suspended("train-b"));
}

TEST(KubeController, ForbiddenCreateIsAnErrorNamingTheGrant) {
    Harness h;
    h.api.forbid("create", "jobs");
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1, 1)});
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "a").action, "error");
    EXPECT_THAT(outcome(report, "a").message, HasSubstr("verb 'create' on resource 'jobs'"));
    EXPECT_FALSE(report.api_unavailable);
    EXPECT_EQ(report.to_json()["counts"]["error"], 1);
}

TEST(KubeController, SiteFilterAndInvalidIds) {
    Harness h;
    KubeController ctl = h.controller(batch_options(false, "london"));
    PlannedJob london = planned("in-london", kJune1 + kHour, 1);
    london.site = "london";
    ctl.set_plan({planned("a", kJune1, 1), london});
    const PassReport report = ctl.reconcile();
    ASSERT_EQ(report.jobs.size(), 1U);
    EXPECT_EQ(report.jobs[0].id, "in-london");
    KubeController all = h.controller();
    all.set_plan({planned("bad id!", kJune1, 1)});
    EXPECT_THAT(outcome(all.reconcile(), "bad id!").message, HasSubstr("label value"));
}

TEST(KubeController, ADeletedJobIsRecreatedOnlyBeforeItsRelease) {
    Harness h;
    KubeTestDouble& api = h.api;
    KubeController ctl = h.controller();
    ctl.set_plan({planned("a", kJune1, 1), planned("b", kJune1 + kHour, 1)});
    ctl.reconcile();  // a released, b created
    api.delete_job("batch", "train-a");  // e.g. ttlSecondsAfterFinished after it ran
    api.delete_job("batch", "train-b");  // deleted by hand before its slot
    const PassReport report = ctl.reconcile();
    EXPECT_EQ(outcome(report, "a").action, "gone");
    EXPECT_EQ(outcome(report, "b").action, "created");
    EXPECT_FALSE(api.job("batch", "train-a").has_value());
    EXPECT_TRUE(api.job("batch", "train-b").has_value());
}

TEST(JobName, LowerCaseAndBounded) {
    EXPECT_EQ(KubeController::job_name_for("Train_A"), "jp-train-a");
    EXPECT_EQ(KubeController::job_name_for(std::string(100, 'x')).size(), 63U);
    EXPECT_EQ(KubeController::job_name_for("a", "batch"), "batch-a");
}

}  // namespace
}  // namespace joulepilot::sched
