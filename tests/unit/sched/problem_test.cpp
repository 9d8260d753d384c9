// The problem on hourly slots (problem.cpp): the money objective worked by hand, windows, run now, and
// every reason a job cannot be planned.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/problem.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::kHour;
using test::kJune1;
using test::make_job;
using test::make_site;
using ::testing::HasSubstr;

SiteSet one_site() {
    SiteSet set;
    set.weights.carbon_price_usd_per_t = 100;  // 1e-4 $/g
    set.weights.lateness_usd_per_h = 5;
    set.sites.push_back(make_site("a", 8, {100, 200, 300, 400, 500, 600, 700, 800}, 1.5, 0.2, 1.0));
    return set;
}

TEST(Objective, WorkedByHand) {
    Job job = make_job("j", 2, 1.5, 1000, 0, 8);
    job.due_unix_s = kJune1 + kHour;
    const auto problem = Problem::build({job}, one_site(), std::nullopt);
    ASSERT_TRUE(problem.has_value()) << problem.error().message;
    ASSERT_EQ(problem->jobs().size(), 1U);
    const PlanJob& pj = problem->jobs()[0];
    EXPECT_EQ(pj.slots_needed, 2);
    EXPECT_DOUBLE_EQ(pj.last_hours, 0.5);

    // Slot 0 for a full hour, slot 1 for half an hour, 1 kW of IT power.
    const Assignment a = problem->contiguous(pj, 0, 0);
    const JobCost c = problem->cost(pj, a);
    EXPECT_NEAR(core::to_kwh(core::Joules(c.it_energy_j)), 1.5, 1e-12);
    EXPECT_NEAR(core::to_kwh(core::Joules(c.facility_energy_j)), 2.25, 1e-12);  // PUE 1.5
    EXPECT_NEAR(c.carbon_g, 1.5 * 100 + 0.75 * 200, 1e-9);                      // 300 g
    EXPECT_NEAR(c.energy_usd, 2.25 * 0.2, 1e-12);
    EXPECT_NEAR(c.carbon_usd, 300 * 1e-4, 1e-12);
    EXPECT_NEAR(c.gpu_usd, 2 * 1.0 * 1.5, 1e-12);
    EXPECT_NEAR(c.lateness_usd, 5 * 0.5, 1e-12);  // finishes at 1.5 h, due at 1 h
    EXPECT_NEAR(c.total_usd(), 0.45 + 0.03 + 3.0 + 2.5, 1e-12);
    EXPECT_NEAR(problem->contiguous_cost(pj, 0, 0), c.total_usd(), 1e-9);

    // One slot later: carbon 200 and 300 g/kWh, 2.5 h late... no: finishes at 2.5 h, 1.5 h late.
    const JobCost later = problem->cost(pj, problem->contiguous(pj, 0, 1));
    EXPECT_NEAR(later.carbon_g, 1.5 * 200 + 0.75 * 300, 1e-9);
    EXPECT_NEAR(later.lateness_usd, 7.5, 1e-12);
    EXPECT_NEAR(problem->contiguous_cost(pj, 0, 1), later.total_usd(), 1e-9);
    EXPECT_NEAR(problem->hourly_cost(pj, 0, 3), 1.0 * 1.5 * (0.2 + 400 * 1e-4) + 2 * 1.0, 1e-12);
}

TEST(Objective, PlanSumsJobsAndPricesUnplacedAboveEverything) {
    const auto problem = Problem::build({make_job("x", 1, 2, 500, 0, 8), make_job("y", 1, 1, 500, 2, 6)},
                                        one_site(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    Plan plan;
    plan.assignments = {problem->contiguous(problem->jobs()[0], 0, 0),
                        problem->contiguous(problem->jobs()[1], 0, 3)};
    const double expected = problem->cost(problem->jobs()[0], plan.assignments[0]).total_usd() +
                            problem->cost(problem->jobs()[1], plan.assignments[1]).total_usd();
    EXPECT_NEAR(problem->objective(plan), expected, 1e-12);
    EXPECT_EQ(problem->check(plan), "");
    plan.assignments[1] = {};
    EXPECT_GT(problem->objective(plan), 2 * expected);
}

TEST(Problem, StartRoundsUpToTheHourAndWindowsFollowEarliestAndDeadline) {
    const auto problem = Problem::build({make_job("x", 1, 2, 500, 2.5, 7.5)}, one_site(), kJune1 + 1800);
    ASSERT_TRUE(problem.has_value());
    EXPECT_DOUBLE_EQ(problem->start_unix_s(), kJune1 + kHour);
    const SiteWindow& w = problem->jobs()[0].windows[0];
    // Earliest 02:30 rounds up to 03:00 (slot 2 from 01:00), deadline 07:30 down to 07:00 (end slot 6).
    EXPECT_EQ(w.first_slot, 2);
    EXPECT_EQ(w.end_slot, 6);
    const Assignment now = problem->run_now(problem->jobs()[0]);
    EXPECT_EQ(now.slots.front().slot, 2);
}

TEST(Problem, RunNowIsTheFirstAllowedSite) {
    SiteSet set = one_site();
    set.sites.push_back(make_site("b", 8, std::vector<double>(8, 50.0)));
    const auto problem = Problem::build({make_job("x", 1, 1, 500, 0, 8, {"b", "a"})}, set, std::nullopt);
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->site_name(problem->jobs()[0].run_now_site), "b");
    EXPECT_EQ(problem->run_now(problem->jobs()[0]).site, 1);
}

TEST(Problem, ReportsEveryUnplannableJobWithItsReasonAndPlansTheRest) {
    SiteSet set = one_site();
    set.sites.push_back(make_site("short", 64, {100, 100, 100}));  // data for three hours only
    std::vector<Job> jobs = {
        make_job("fine", 1, 2, 500, 0, 8),
        make_job("typo", 1, 1, 500, 0, 8, {"a", "frankfurt"}),
        make_job("hurry", 1, 3, 500, 0, 2),         // 3 h before a 2 h deadline
        make_job("huge", 16, 1, 500, 0, 8, {"a"}),  // 16 GPUs at an 8-GPU site
        make_job("late", 1, 2, 500, 4, 8, {"short"}),
    };
    const auto problem = Problem::build(jobs, set, std::nullopt);
    ASSERT_TRUE(problem.has_value());
    ASSERT_EQ(problem->jobs().size(), 1U);
    EXPECT_EQ(problem->jobs()[0].id, "fine");
    const auto& u = problem->unplanned();
    ASSERT_EQ(u.size(), 4U);
    EXPECT_EQ(u[0].reason, Unplannable::unknown_site);
    EXPECT_THAT(u[0].message, HasSubstr("unknown site frankfurt"));
    EXPECT_EQ(u[1].reason, Unplannable::no_window);
    EXPECT_THAT(u[1].message, HasSubstr("'hurry'"));
    EXPECT_EQ(u[2].reason, Unplannable::too_big);
    EXPECT_THAT(u[2].message, HasSubstr("needs 16 GPUs; a has 8"));
    EXPECT_EQ(u[3].reason, Unplannable::no_data);
    EXPECT_THAT(u[3].message, HasSubstr("short"));
    EXPECT_EQ(u[3].job, 4U);
}

TEST(Problem, SlackGivesTheDeadline) {
    Job job = make_job("x", 1, 2, 500, 1, 8);
    job.deadline_unix_s.reset();
    job.slack = core::Seconds(3 * kHour);
    const auto problem = Problem::build({job}, one_site(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    const SiteWindow& w = problem->jobs()[0].windows[0];
    EXPECT_EQ(w.first_slot, 0);  // the plan starts at the job's earliest start
    EXPECT_EQ(w.end_slot, 5);    // 1 h + 2 h + 3 h slack = 6 h after June 1, 00:00
}

TEST(Problem, NeedsAStart) {
    Job job = make_job("x", 1, 2, 500, 0, 8);
    job.earliest_start_unix_s.reset();
    const auto problem = Problem::build({job}, one_site(), std::nullopt);
    ASSERT_FALSE(problem.has_value());
    EXPECT_THAT(problem.error().message, HasSubstr("--from"));
}

TEST(Problem, CheckCatchesBrokenPlans) {
    Job job = make_job("x", 8, 2, 500, 0, 8);
    const auto problem = Problem::build({job, job}, one_site(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    const PlanJob& pj = problem->jobs()[0];
    Plan plan;
    plan.assignments = {problem->contiguous(pj, 0, 0), problem->contiguous(pj, 0, 1)};
    EXPECT_THAT(problem->check(plan), HasSubstr("16 GPUs used of 8"));
    plan.assignments[1] = problem->contiguous(pj, 0, 7);
    EXPECT_THAT(problem->check(plan), HasSubstr("outside its window"));
    plan.assignments[1] = problem->contiguous(pj, 0, 2);
    plan.assignments[1].slots.pop_back();
    EXPECT_THAT(problem->check(plan), HasSubstr("runs 1 h of the 2 h"));
}

TEST(Problem, InterruptibleJobNeedsOverheadPerResumption) {
    Job job = make_job("x", 1, 2, 500, 0, 8);
    job.interruptible = true;
    job.checkpoint_overhead = core::Seconds(900);
    const auto problem = Problem::build({job}, one_site(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    Plan plan;
    plan.assignments = {Assignment{0, {{0, 1.0}, {2, 1.0}}}};
    EXPECT_EQ(plan.assignments[0].pieces(), 2);
    EXPECT_THAT(problem->check(plan), HasSubstr("of the 2.25 h"));
    plan.assignments = {Assignment{0, {{0, 1.0}, {2, 1.0}, {3, 0.25}}}};
    EXPECT_EQ(problem->check(plan), "");
}

}  // namespace
}  // namespace joulepilot::sched
