// Plan files (plan_file.cpp): the JSON that `schedule plan --json` writes (report_json) read back for the
// controller, malformed plans named, and the watcher that re-reads a changed file.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sched/plan_file.hpp"
#include "sched/report.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::kHour;
using test::kJune1;
using test::make_job;
using test::make_site;
using ::testing::HasSubstr;

TEST(PlanFile, ReadsWhatThePlannerWrites) {
    SiteSet set;
    set.weights.carbon_price_usd_per_t = 1000;
    set.sites.push_back(make_site("a", 8, {500, 100, 500, 500, 100, 500}));
    std::vector<Job> jobs = {make_job("contiguous", 4, 1, 1000, 0, 6), make_job("pieces", 4, 2, 1000, 0, 6)};
    jobs[1].interruptible = true;
    const auto problem = Problem::build(jobs, set, std::nullopt);
    ASSERT_TRUE(problem.has_value()) << problem.error().message;
    const auto result = solve(*problem, SolverKind::fast);
    ASSERT_TRUE(result.has_value());
    const PlanReport report = make_report(*problem, *result);
    const auto plan = parse_plan_json(report_json(report, *problem).dump(), "plan.json");
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    ASSERT_EQ(plan->size(), report.receipts.size());
    for (std::size_t i = 0; i < plan->size(); ++i) {
        const PlannedJob& p = (*plan)[i];
        const Receipt& r = report.receipts[i];
        EXPECT_EQ(p.id, r.id);
        EXPECT_EQ(p.site, "a");
        EXPECT_DOUBLE_EQ(p.start_unix_s(), r.start_unix_s);
        EXPECT_EQ(static_cast<int>(p.pieces.size()), r.assignment.pieces());
        double hours = 0;
        for (const PlannedPiece& piece : p.pieces) hours += piece.run_hours;
        EXPECT_NEAR(hours, r.id == "contiguous" ? 1.0 : 2.0, 0.01);
    }
    // Interruptible and cheapest in hours 1 and 4: two pieces.
    EXPECT_EQ((*plan)[1].pieces.size(), 2U);
    EXPECT_DOUBLE_EQ((*plan)[1].pieces[0].start_unix_s, kJune1 + kHour);
}

TEST(PlanFile, ThePlannerWritesEachJobsWindowAndTheControllerReadsIt) {
    SiteSet set;
    set.sites.push_back(make_site("a", 8, {500, 100, 500, 500, 100, 500, 500, 500}));
    // The deadline falls inside an hour (5.5 h): the plan file keeps the job's own, not the slot bound.
    std::vector<Job> jobs = {make_job("x", 1, 1, 1000, 1, 5.5)};
    const auto problem = Problem::build(jobs, set, kJune1);
    ASSERT_TRUE(problem.has_value()) << problem.error().message;
    const auto result = solve(*problem, SolverKind::fast);
    ASSERT_TRUE(result.has_value());
    const nlohmann::json doc = report_json(make_report(*problem, *result), *problem);
    EXPECT_EQ(doc["jobs"][0]["deadline"], "2023-06-01T05:30:00Z");
    EXPECT_EQ(doc["jobs"][0]["earliest_start"], "2023-06-01T01:00:00Z");
    const auto plan = parse_plan_json(doc.dump(), "plan.json");
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    EXPECT_EQ(plan->front().deadline_unix_s, kJune1 + 5.5 * kHour);
    EXPECT_EQ(plan->front().earliest_start_unix_s, kJune1 + kHour);
    EXPECT_FALSE(missing_deadline_warning(*plan, "plan.json").has_value());
}

TEST(PlanFile, AnOlderPlanWithoutDeadlinesIsReadWithAWarning) {
    const auto plan = parse_plan_json(
        R"({"jobs": [{"id": "old", "start": "2023-06-01T01:00:00Z", "finish": "2023-06-01T02:00:00Z"},
                     {"id": "new", "start": "2023-06-01T01:00:00Z", "finish": "2023-06-01T02:00:00Z",
                      "deadline": "2023-06-01T05:00:00Z"}]})",
        "old.json");
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    EXPECT_FALSE(plan->front().deadline_unix_s.has_value());
    EXPECT_FALSE(plan->front().earliest_start_unix_s.has_value());
    const auto warning = missing_deadline_warning(*plan, "old.json");
    ASSERT_TRUE(warning.has_value());
    EXPECT_THAT(*warning, HasSubstr("old.json: 1 of 2 jobs carry no deadline (old;"));
    EXPECT_THAT(*warning, HasSubstr("last planned slot"));
    EXPECT_THAT(*warning, HasSubstr("schedule plan --json"));
}

TEST(PlanFile, ADeadlineBeforeTheEarliestStartIsAnError) {
    const auto plan = parse_plan_json(
        R"({"jobs": [{"id": "a", "start": 7200, "finish": 10800, "earliest_start": 7200, "deadline": 3600}]})", "p");
    ASSERT_FALSE(plan.has_value());
    EXPECT_THAT(plan.error().message, HasSubstr("(id 'a'): \"deadline\" is before \"earliest_start\""));
}

TEST(PlanFile, DeadlineIsReadWhenPresent) {
    const auto plan = parse_plan_json(
        R"({"jobs": [{"id": "a", "start": "2023-06-01T01:00:00Z", "finish": "2023-06-01T02:00:00Z",
            "deadline": "2023-06-01T05:00Z"}]})",
        "p");
    ASSERT_TRUE(plan.has_value()) << plan.error().message;
    EXPECT_EQ(plan->front().deadline_unix_s, kJune1 + 5 * kHour);
    EXPECT_EQ(plan->front().pieces.size(), 1U);
}

TEST(PlanFile, MalformedPlansAreNamed) {
    EXPECT_THAT(parse_plan_json("[]", "p.json").error().message, HasSubstr("schedule plan --json"));
    EXPECT_THAT(parse_plan_json(R"({"jobs": [{"site": "a"}]})", "p.json").error().message, HasSubstr("jobs[0]: no \"id\""));
    EXPECT_THAT(parse_plan_json(R"({"jobs": [{"id": "a", "start": "soon", "finish": "later"}]})", "p.json").error().message,
                HasSubstr("(id 'a'): \"start\""));
    EXPECT_THAT(parse_plan_json(R"({"jobs": [{"id": "a", "start": 10, "finish": 20}, {"id": "a", "start": 10, "finish": 20}]})",
                                "p.json")
                    .error()
                    .message,
                HasSubstr("planned twice"));
    EXPECT_THAT(parse_plan_json(R"({"jobs": [{"id": "a", "pieces": [{"start": 20, "end": 10}]}]})", "p.json").error().message,
                HasSubstr("ends before it starts"));
}

TEST(PlanFileWatcher, RereadsOnlyWhenTheFileChanges) {
    const auto path = std::filesystem::temp_directory_path() / ("jp-plan-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << R"({"jobs": [{"id": "a", "start": 10, "finish": 20}]})";
    PlanFileWatcher watcher(path);
    auto first = watcher.poll();
    ASSERT_TRUE(first.has_value() && first->has_value());
    EXPECT_EQ((*first)->size(), 1U);
    EXPECT_FALSE(watcher.poll()->has_value());
    std::ofstream(path) << R"({"jobs": [{"id": "a", "start": 10, "finish": 20}, {"id": "b", "start": 30, "finish": 40}]})";
    auto second = watcher.poll();
    ASSERT_TRUE(second.has_value() && second->has_value());
    EXPECT_EQ((*second)->size(), 2U);
    std::ofstream(path) << "{half written";
    EXPECT_FALSE(watcher.poll().has_value());  // an error; the caller keeps the previous plan
    std::filesystem::remove(path);
    EXPECT_FALSE(watcher.poll().has_value());
}

}  // namespace
}  // namespace joulepilot::sched
