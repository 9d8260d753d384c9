#pragma once
// Solvers of the scheduling problem (problem.hpp). Both minimise the same objective,
// Problem::objective(), and return plans that Problem::check() accepts:
//  - exact: a time-indexed MILP solved by COIN-OR CBC. Optimal, or the best plan and the proven bound
//    when the time limit stops it. The reference for the others; practical up to a few thousand
//    (job, site, start) options.
//  - fast: greedy placement of the least flexible jobs first at their cheapest free option, then rounds
//    of remove-and-reinsert until no job can move to a cheaper free option, eviction moves, and (queues
//    up to 3,000 jobs) seeded ruin-and-recreate moves over groups of competing jobs.
// (An ant-colony solver was measured against these two and removed: it never beat `fast`; see
// docs/benchmarks.md and docs/scheduling.md.)
// A job no solver could fit (every window full) is left unplaced and reported as no_capacity.
// Pure functions of their inputs (fast draws from a seeded generator): safe to run side by side.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "sched/problem.hpp"

namespace joulepilot::sched {

enum class SolverKind { exact, fast };
core::Result<SolverKind> parse_solver(std::string_view name);
const char* to_string(SolverKind kind);

struct SolveOptions {
    double time_limit_s = 60;  // exact: CBC stops here with its best plan and bound
    std::uint64_t seed = 1;    // fast's ruin-and-recreate moves
    int fast_rounds = 8;  // remove-and-reinsert rounds at most
    // fast, queues up to 3,000 jobs: ruin-and-recreate moves after the rounds, this many per job (at most
    // fast_recreate_max); seeded by `seed`, so a plan is the same on every run.
    long fast_recreate_per_job = 200;
    long fast_recreate_max = 50'000;
    // exact: refuse problems with more columns than this (CBC would not finish in useful time).
    std::size_t exact_max_columns = 400'000;
};

struct SolveResult {
    SolverKind solver = SolverKind::fast;
    Plan plan;
    double objective_usd = 0;  // Problem::objective(plan)
    double wall_s = 0;
    // exact only: whether CBC proved optimality, and its lower bound on the objective.
    bool proven_optimal = false;
    std::optional<double> bound_usd;
    std::string note;

    // (objective - bound) / objective, when a bound is known.
    [[nodiscard]] std::optional<double> gap() const;
};

SolveResult solve_fast(const Problem& problem, const SolveOptions& options = {});
core::Result<SolveResult> solve_exact(const Problem& problem, const SolveOptions& options = {});
core::Result<SolveResult> solve(const Problem& problem, SolverKind kind, const SolveOptions& options = {});

// The jobs a plan leaves unplaced, as no_capacity entries naming each job.
std::vector<UnplannedJob> capacity_failures(const Problem& problem, const Plan& plan);

// Building blocks of the fast solver (and of exact's first incumbent, which is the fast plan).
namespace detail {

// Free GPUs per (site, slot).
class Occupancy {
public:
    explicit Occupancy(const Problem& problem);
    [[nodiscard]] int free(int site, int slot) const { return m_free[index(site, slot)]; }
    void add(const PlanJob& job, const Assignment& a, int sign);

private:
    [[nodiscard]] std::size_t index(int site, int slot) const {
        return static_cast<std::size_t>(site) * static_cast<std::size_t>(m_slots) +
               static_cast<std::size_t>(slot);
    }
    int m_slots;
    std::vector<int> m_free;
};

// The cheapest placement of `job` in the free capacity (contiguous runs; for an interruptible job also
// the cheapest set of free slots, pieces and overhead included). Unplaced if nothing fits.
struct Option {
    Assignment assignment;
    double cost_usd = 0;
};
Option best_option(const Problem& problem, const PlanJob& job, const Occupancy& occupancy);
// The same with capacity ignored (the job's cheapest option if it were alone).
Option best_option_unlimited(const Problem& problem, const PlanJob& job);

}  // namespace detail

}  // namespace joulepilot::sched
