// Solvers (exact, fast): exact against brute force on tiny instances, fast within 1% of exact on
// random small ones, and for every solver: capacity never exceeded, windows and deadlines kept, jobs
// that do not fit reported.

#include <algorithm>
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/solver.hpp"
#include "sched/study.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::kJune1;
using test::make_job;
using test::make_site;
using test::random_instance;
using ::testing::HasSubstr;

// Every placement of one job, capacity ignored: contiguous starts, and for an interruptible job every
// set of slots with its hours spread cheapest first (optimal for a given set, since cost is linear in
// hours and lateness depends on the set only).
std::vector<Assignment> all_placements(const Problem& p, const PlanJob& job) {
    std::vector<Assignment> out;
    for (const SiteWindow& w : job.windows) {
        if (!job.interruptible) {
            for (int k = w.first_slot; k + job.slots_needed <= w.end_slot; ++k)
                out.push_back(p.contiguous(job, w.site, k));
            continue;
        }
        const int width = w.end_slot - w.first_slot;
        for (unsigned mask = 1; mask < (1U << width); ++mask) {
            Assignment a;
            a.site = w.site;
            for (int i = 0; i < width; ++i) {
                if ((mask & (1U << i)) != 0) a.slots.push_back({w.first_slot + i, 0.0});
            }
            double need = Problem::required_hours(job, a.pieces());
            if (static_cast<double>(a.slots.size()) < need - 1e-9) continue;
            std::vector<SlotUse*> by_cost;
            for (SlotUse& use : a.slots) by_cost.push_back(&use);
            std::sort(by_cost.begin(), by_cost.end(), [&](const SlotUse* x, const SlotUse* y) {
                return p.hourly_cost(job, w.site, x->slot) < p.hourly_cost(job, w.site, y->slot);
            });
            for (SlotUse* use : by_cost) {
                use->hours = std::clamp(need, 0.0, 1.0);
                need -= use->hours;
            }
            out.push_back(std::move(a));
        }
    }
    out.emplace_back();  // not placed
    return out;
}

double brute_force(const Problem& p) {
    std::vector<std::vector<Assignment>> options;
    for (const PlanJob& job : p.jobs()) options.push_back(all_placements(p, job));
    Plan plan;
    plan.assignments.resize(p.jobs().size());
    double best = std::numeric_limits<double>::infinity();
    std::function<void(std::size_t)> search = [&](std::size_t j) {
        if (j == options.size()) {
            if (p.check(plan).empty()) best = std::min(best, p.objective(plan));
            return;
        }
        for (const Assignment& a : options[j]) {
            plan.assignments[j] = a;
            search(j + 1);
        }
    };
    search(0);
    return best;
}

void expect_valid(const Problem& p, const SolveResult& r) {
    EXPECT_EQ(p.check(r.plan), "") << to_string(r.solver);
    EXPECT_NEAR(r.objective_usd, p.objective(r.plan), 1e-6 * std::max(1.0, r.objective_usd));
}

TEST(ExactSolver, MatchesBruteForceOnTinyInstances) {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        // Three jobs, two sites, 10 hours: small enough to enumerate every joint placement.
        test::Instance inst = random_instance(seed, 3, 2, 10, 0.34);
        for (Job& job : inst.jobs) {
            // Narrow interruptible windows keep the subsets enumerable.
            if (job.interruptible)
                job.deadline_unix_s = std::min(*job.deadline_unix_s, *job.earliest_start_unix_s + 5 * 3600);
            if (*job.deadline_unix_s - *job.earliest_start_unix_s < job.duration.value()) {
                job.deadline_unix_s =
                    *job.earliest_start_unix_s + std::ceil(job.duration.value() / 3600) * 3600;
            }
        }
        const auto problem = Problem::build(inst.jobs, inst.sites, std::nullopt);
        ASSERT_TRUE(problem.has_value()) << problem.error().message;
        const auto exact = solve_exact(*problem);
        ASSERT_TRUE(exact.has_value()) << exact.error().message;
        EXPECT_TRUE(exact->proven_optimal);
        expect_valid(*problem, *exact);
        EXPECT_NEAR(exact->objective_usd, brute_force(*problem), 1e-6) << "seed " << seed;
        EXPECT_EQ(exact->gap(), 0.0);
    }
}

TEST(FastSolver, WithinOnePercentOfExactOnRandomSmallInstances) {
    double worst = 0;
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        const test::Instance inst = random_instance(100 + seed, 12, 3, 30);
        const auto problem = Problem::build(inst.jobs, inst.sites, std::nullopt);
        ASSERT_TRUE(problem.has_value()) << problem.error().message;
        const auto exact = solve_exact(*problem);
        ASSERT_TRUE(exact.has_value()) << exact.error().message;
        if (!exact->proven_optimal) continue;
        const SolveResult fast = solve_fast(*problem);
        expect_valid(*problem, *exact);
        expect_valid(*problem, fast);
        EXPECT_GE(fast.objective_usd, exact->objective_usd - 1e-6);
        const double gap = (fast.objective_usd - exact->objective_usd) / exact->objective_usd;
        worst = std::max(worst, gap);
        EXPECT_LE(gap, 0.01) << "seed " << seed;
    }
    RecordProperty("worst_gap", std::to_string(worst));
}

// The ruin-and-recreate pass only keeps moves that do not raise the cost, is seeded (same plan on every
// run), and on the gap study's 20-job instance 0 finds the chain of moves greedy placement, reinsertion and
// eviction miss (a job gives way to a second, which gives way to a third): without it `fast` was 1.10%
// above the optimum there (docs/benchmarks.md).
TEST(FastSolver, RuinAndRecreateNeverWorsensAndFindsChains) {
    SolveOptions without;
    without.fast_recreate_per_job = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        const test::Instance inst = random_instance(300 + seed, 16, 3, 30);
        const auto problem = Problem::build(inst.jobs, inst.sites, std::nullopt);
        ASSERT_TRUE(problem.has_value()) << problem.error().message;
        const SolveResult plain = solve_fast(*problem, without);
        const SolveResult full = solve_fast(*problem);
        expect_valid(*problem, full);
        EXPECT_LE(full.objective_usd, plain.objective_usd + 1e-6) << "seed " << seed;
        EXPECT_EQ(solve_fast(*problem).objective_usd, full.objective_usd) << "seed " << seed;
    }
    const auto instance = gap_instance(test::data_dir(), 20, 0, 1);
    ASSERT_TRUE(instance.has_value()) << instance.error().message;
    const SolveResult plain = solve_fast(instance->problem, without);
    const SolveResult full = solve_fast(instance->problem);
    expect_valid(instance->problem, full);
    EXPECT_LT(full.objective_usd, plain.objective_usd * (1 - 0.005));
}

TEST(Solvers, NeverExceedCapacityOrDeadlines) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        const test::Instance inst = random_instance(200 + seed, 24, 2, 36, 0.5);
        const auto problem = Problem::build(inst.jobs, inst.sites, std::nullopt);
        ASSERT_TRUE(problem.has_value());
        SolveOptions options;
        options.time_limit_s = 1;  // a plan that is not proven optimal must be valid too
        for (SolverKind kind : {SolverKind::fast, SolverKind::exact}) {
            const auto result = solve(*problem, kind, options);
            ASSERT_TRUE(result.has_value()) << result.error().message;
            expect_valid(*problem, *result);
            // Deadlines: every run ends by its job's deadline.
            for (std::size_t j = 0; j < problem->jobs().size(); ++j) {
                const Assignment& a = result->plan.assignments[j];
                if (!a.placed()) continue;
                const Job& job = inst.jobs[problem->jobs()[j].job];
                EXPECT_LE(problem->slot_start_unix_s(a.slots.back().slot + 1), *job.deadline_unix_s + 1e-6);
                EXPECT_GE(problem->slot_start_unix_s(a.slots.front().slot),
                          *job.earliest_start_unix_s - 1e-6);
            }
        }
    }
}

TEST(Solvers, JobsThatDoNotFitAreReportedAndTheRestPlanned) {
    SiteSet set;
    set.sites.push_back(make_site("a", 4, {100, 100, 100, 100}));
    // Three 4-GPU jobs of 2 h in a 4 h window at a 4-GPU site: only two fit.
    std::vector<Job> jobs = {make_job("x", 4, 2, 1000, 0, 4), make_job("y", 4, 2, 1000, 0, 4),
                             make_job("z", 4, 2, 1000, 0, 4)};
    const auto problem = Problem::build(jobs, set, std::nullopt);
    ASSERT_TRUE(problem.has_value());
    for (SolverKind kind : {SolverKind::fast, SolverKind::exact}) {
        const auto result = solve(*problem, kind);
        ASSERT_TRUE(result.has_value());
        expect_valid(*problem, *result);
        const auto failures = capacity_failures(*problem, result->plan);
        ASSERT_EQ(failures.size(), 1U) << to_string(kind);
        EXPECT_EQ(failures[0].reason, Unplannable::no_capacity);
        EXPECT_THAT(failures[0].message, HasSubstr("taken by other jobs"));
    }
}

TEST(FastSolver, MovesWorkToTheCleanHoursAndSplitsWhenInterruptible) {
    SiteSet set;
    set.weights.carbon_price_usd_per_t = 1000;
    set.sites.push_back(make_site("a", 8, {500, 100, 500, 500, 100, 500}));
    Job job = make_job("x", 1, 2, 1000, 0, 6);
    const auto fixed = Problem::build({job}, set, std::nullopt);
    ASSERT_TRUE(fixed.has_value());
    const SolveResult whole = solve_fast(*fixed);
    EXPECT_EQ(whole.plan.assignments[0].pieces(), 1);
    job.interruptible = true;
    job.checkpoint_overhead = core::Seconds(360);  // 0.1 h
    const auto split = Problem::build({job}, set, std::nullopt);
    ASSERT_TRUE(split.has_value());
    const SolveResult pieces = solve_fast(*split);
    expect_valid(*split, pieces);
    // Both clean hours, plus the overhead in a dirty one: cheaper than any contiguous pair.
    EXPECT_EQ(pieces.plan.assignments[0].pieces(), 2);
    EXPECT_LT(pieces.objective_usd, whole.objective_usd);
    const auto exact = solve_exact(*split);
    ASSERT_TRUE(exact.has_value());
    EXPECT_NEAR(exact->objective_usd, pieces.objective_usd, 1e-6);
}

TEST(ExactSolver, RefusesProblemsAboveTheColumnLimit) {
    const test::Instance inst = random_instance(7, 20, 2, 30);
    const auto problem = Problem::build(inst.jobs, inst.sites, std::nullopt);
    ASSERT_TRUE(problem.has_value());
    SolveOptions options;
    options.exact_max_columns = 10;
    const auto result = solve_exact(*problem, options);
    ASSERT_FALSE(result.has_value());
    EXPECT_THAT(result.error().message, HasSubstr("use --solver fast"));
}

TEST(Solvers, ParseNames) {
    EXPECT_EQ(parse_solver("exact").value(), SolverKind::exact);
    EXPECT_EQ(parse_solver("fast").value(), SolverKind::fast);
    EXPECT_FALSE(parse_solver("magic").has_value());
    // The ant-colony solver was measured and removed (docs/benchmarks.md): its name is refused, naming
    // the solvers there are.
    const auto aco = parse_solver("aco");
    ASSERT_FALSE(aco.has_value());
    EXPECT_THAT(aco.error().message, HasSubstr("(exact, fast)"));
}

}  // namespace
}  // namespace joulepilot::sched
