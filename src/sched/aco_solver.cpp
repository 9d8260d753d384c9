// The `aco` solver (solver.hpp): a MAX-MIN ant system. Each ant places the jobs, least flexible first,
// choosing among each job's cheapest options (those that still fit) with probability proportional to
// pheromone x (1 / cost rank)^beta; after each round the round's best ant deposits pheromone on its
// choices and all trails evaporate, bounded to [tau_min, tau_max] so no option is ever ruled out.
// A job none of whose listed options fits takes its cheapest free option, as in `fast`.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "sched/solver.hpp"

namespace joulepilot::sched {

namespace {

constexpr std::size_t kOptionsPerJob = 24;
constexpr double kAlpha = 1.0;
constexpr double kBeta = 2.0;
constexpr double kEvaporation = 0.1;
constexpr double kTauMin = 0.05;
constexpr double kTauMax = 5.0;

struct Candidate {
    Assignment assignment;
    double cost_usd;
};

std::vector<Candidate> candidates_of(const Problem& problem, const PlanJob& job,
                                     const detail::Occupancy& empty) {
    std::vector<Candidate> out;
    for (const SiteWindow& w : job.windows) {
        for (int k = w.first_slot; k + job.slots_needed <= w.end_slot; ++k) {
            out.push_back({problem.contiguous(job, w.site, k), problem.contiguous_cost(job, w.site, k)});
        }
        if (job.interruptible) {
            // The cheapest piecewise placement at this site if it were empty.
            detail::Option set = detail::cheapest_slot_set(problem, job, w, empty);
            if (set.assignment.placed()) out.push_back({std::move(set.assignment), set.cost_usd});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const Candidate& a, const Candidate& b) { return a.cost_usd < b.cost_usd; });
    if (out.size() > kOptionsPerJob) out.resize(kOptionsPerJob);
    return out;
}

bool fits(const PlanJob& job, const Assignment& a, const detail::Occupancy& occupancy) {
    return std::all_of(a.slots.begin(), a.slots.end(),
                       [&](const SlotUse& use) { return occupancy.free(a.site, use.slot) >= job.gpus; });
}

}  // namespace

SolveResult solve_aco(const Problem& problem, const SolveOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    const auto& jobs = problem.jobs();
    std::vector<std::vector<Candidate>> candidates(jobs.size());
    std::vector<std::vector<double>> tau(jobs.size());
    const detail::Occupancy empty(problem);
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        candidates[j] = candidates_of(problem, jobs[j], empty);
        tau[j].assign(candidates[j].size(), 1.0);
    }
    std::vector<std::size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (candidates[a].size() != candidates[b].size()) return candidates[a].size() < candidates[b].size();
        return jobs[a].gpus * jobs[a].work_h > jobs[b].gpus * jobs[b].work_h;
    });
    std::vector<double> eta(kOptionsPerJob);
    for (std::size_t r = 0; r < kOptionsPerJob; ++r)
        eta[r] = std::pow(1.0 / static_cast<double>(r + 1), kBeta);

    std::mt19937_64 random(options.seed);
    SolveResult best;
    best.solver = SolverKind::aco;
    best.objective_usd = std::numeric_limits<double>::infinity();
    best.plan.assignments.resize(jobs.size());
    std::vector<double> weights;
    for (int iteration = 0; iteration < options.aco_iterations; ++iteration) {
        Plan round_best;
        double round_best_objective = std::numeric_limits<double>::infinity();
        std::vector<int> round_best_choices;
        for (int ant = 0; ant < options.aco_ants; ++ant) {
            detail::Occupancy occupancy(problem);
            Plan plan;
            plan.assignments.resize(jobs.size());
            std::vector<int> choices(jobs.size(), -1);
            for (std::size_t j : order) {
                weights.assign(candidates[j].size(), 0.0);
                double total = 0;
                for (std::size_t o = 0; o < candidates[j].size(); ++o) {
                    if (fits(jobs[j], candidates[j][o].assignment, occupancy)) {
                        weights[o] = std::pow(tau[j][o], kAlpha) * eta[o];
                        total += weights[o];
                    }
                }
                if (total > 0) {
                    std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
                    const std::size_t o = pick(random);
                    choices[j] = static_cast<int>(o);
                    plan.assignments[j] = candidates[j][o].assignment;
                } else {
                    plan.assignments[j] = detail::best_option(problem, jobs[j], occupancy).assignment;
                }
                occupancy.add(jobs[j], plan.assignments[j], +1);
            }
            const double objective = problem.objective(plan);
            if (objective < round_best_objective) {
                round_best_objective = objective;
                round_best = std::move(plan);
                round_best_choices = std::move(choices);
            }
        }
        for (auto& trail : tau) {
            for (double& t : trail) t = std::max(kTauMin, t * (1 - kEvaporation));
        }
        for (std::size_t j = 0; j < jobs.size(); ++j) {
            if (round_best_choices[j] >= 0) {
                double& t = tau[j][static_cast<std::size_t>(round_best_choices[j])];
                t = std::min(kTauMax, t + 1.0);
            }
        }
        if (round_best_objective < best.objective_usd) {
            best.objective_usd = round_best_objective;
            best.plan = std::move(round_best);
        }
    }
    if (!std::isfinite(best.objective_usd)) best.objective_usd = problem.objective(best.plan);
    best.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return best;
}

}  // namespace joulepilot::sched
