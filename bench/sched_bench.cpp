// Hot paths of the scheduler on the shipped 2023 grid data of the five zones:
//  - BM_FastPlan: `fast` on 10,000 jobs x 168 hourly slots x 5 sites (target: <= 2 s per plan), with the
//    full money objective (temperature PUE, time-of-use tariffs, GPU cost, carbon price) and capacity
//    that binds in the cleanest hours;
//  - BM_ProblemBuild: turning the queue and sites into the per-(site, slot) cost tables;
//  - BM_ExactSmall / BM_FastSmall: both solvers on 20 jobs x 48 slots x 5 sites.
#include <benchmark/benchmark.h>

#include "sched/problem.hpp"
#include "sched/solver.hpp"
#include "sched/study.hpp"

namespace {

using namespace joulepilot::sched;

constexpr double kJune5 = 1685923200;  // 2023-06-05T00:00Z, a Monday

const SiteSet& sites(int gpus_per_site) {
    static const SiteSet big = zone_sites(JOULEPILOT_DATA_DIR, 400, false).value();
    static const SiteSet small = zone_sites(JOULEPILOT_DATA_DIR, 8, false).value();
    return gpus_per_site > 8 ? big : small;
}

std::vector<Job> week_queue(int jobs, double span_h, double slack_h) {
    QueueSpec spec;
    spec.jobs = jobs;
    spec.start_unix_s = kJune5;
    spec.span_h = span_h;
    spec.slack_h = slack_h;
    spec.multi_site = true;
    for (const Site& s : sites(400).sites) spec.site_names.push_back(s.name);
    spec.seed = 42;
    return random_queue(spec);
}

// Earliest starts over the first 6 days, at most 8 h of run and 16 h of slack: the last windows end at
// hour 168 (a week of hourly slots).
const Problem& week_problem() {
    static const Problem p = Problem::build(week_queue(10'000, 6 * 24, 16), sites(400), kJune5).value();
    return p;
}

void BM_FastPlan(benchmark::State& state) {
    const Problem& problem = week_problem();
    double objective = 0;
    std::size_t unplaced = 0;
    for (auto _ : state) {
        const SolveResult r = solve_fast(problem);
        objective = r.objective_usd;
        unplaced = capacity_failures(problem, r.plan).size();
        benchmark::DoNotOptimize(objective);
    }
    state.counters["jobs"] = static_cast<double>(problem.jobs().size());
    state.counters["slots"] = problem.slots();
    state.counters["sites"] = problem.sites();
    state.counters["unplaced"] = static_cast<double>(unplaced);
}
BENCHMARK(BM_FastPlan)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_ProblemBuild(benchmark::State& state) {
    const std::vector<Job> jobs = week_queue(10'000, 6 * 24, 16);
    for (auto _ : state) benchmark::DoNotOptimize(Problem::build(jobs, sites(400), kJune5));
}
BENCHMARK(BM_ProblemBuild)->Unit(benchmark::kMillisecond);

const Problem& small_problem() {
    static const Problem p = Problem::build(week_queue(20, 36, 12), sites(8), kJune5).value();
    return p;
}

void BM_ExactSmall(benchmark::State& state) {
    SolveOptions options;
    options.time_limit_s = 60;
    for (auto _ : state) {
        const auto r = solve_exact(small_problem(), options);
        state.counters["optimal"] = r && r->proven_optimal ? 1 : 0;
    }
}
BENCHMARK(BM_ExactSmall)->Unit(benchmark::kMillisecond);

void BM_FastSmall(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(solve_fast(small_problem()));
}
BENCHMARK(BM_FastSmall)->Unit(benchmark::kMicrosecond);

}  // namespace
