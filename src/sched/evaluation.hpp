#pragma once
// `schedule evaluate`: plan on forecasts, score on actuals. For one queue of jobs it compares, all scored
// on the actual carbon series:
//  - run now: each job contiguously from its earliest start at its first allowed site;
//  - the plan made on the forecast (the deployable plan);
//  - the plan made on the actual series (perfect information: the bound on what a forecast can give);
//  - best window: the carbon-aware SDK's method, each job alone at the contiguous window of lowest
//    forecast carbon intensity, at its first site or over its allowed sites, capacity, price and PUE
//    ignored (the GPU-hours it puts above capacity are reported).
// Regret = forecast plan - perfect plan in objective $; "share of perfect savings" = what the forecast
// plan saves against run now divided by what the perfect plan saves. Results add up over batches.

#include <optional>
#include <vector>

#include "core/result.hpp"
#include "sched/forecast.hpp"
#include "sched/job.hpp"
#include "sched/problem.hpp"
#include "sched/site.hpp"
#include "sched/solver.hpp"

namespace joulepilot::sched {

struct StrategyTotals {
    JobCost cost;
    double wall_s = 0;
    StrategyTotals& operator+=(const StrategyTotals& other);
};

enum class WindowScope { first_site, allowed_sites };

struct EvaluationResult {
    StrategyTotals run_now;
    StrategyTotals forecast_plan;
    StrategyTotals perfect_plan;
    StrategyTotals best_window;
    double best_window_overload_gpu_h = 0;  // GPU-hours the best-window baseline puts above capacity
    int jobs_compared = 0;                  // planned by both plans (the totals cover these)
    int jobs_not_compared = 0;              // unplannable, or left out by a plan

    [[nodiscard]] double regret_usd() const {
        return forecast_plan.cost.total_usd() - perfect_plan.cost.total_usd();
    }
    // Saved against run now, as a fraction of run now, for a strategy's totals.
    [[nodiscard]] double carbon_saved_fraction(const StrategyTotals& s) const;
    [[nodiscard]] double cost_saved_fraction(const StrategyTotals& s) const;
    // Forecast plan's savings / perfect plan's savings (1 when the perfect plan saves nothing).
    [[nodiscard]] double share_of_perfect_carbon_savings() const;
    [[nodiscard]] double share_of_perfect_cost_savings() const;
    EvaluationResult& operator+=(const EvaluationResult& other);
};

core::Result<EvaluationResult> evaluate(const std::vector<Job>& jobs, const SiteSet& sites,
                                        std::optional<double> from_unix_s, const ForecastOptions& forecast,
                                        SolverKind solver, const SolveOptions& options, WindowScope scope);

// The best-window baseline's placement of each job of a problem, chosen on `forecast` (a problem with the
// same jobs and slots), for `scope`. Indexed like problem.jobs().
Plan best_window_plan(const Problem& forecast, WindowScope scope);

}  // namespace joulepilot::sched
