#include "sched/evaluation.hpp"

#include <algorithm>
#include <limits>

namespace joulepilot::sched {

namespace {

double fraction(double saved, double base) { return base > 0 ? saved / base : 0.0; }

double share(double got, double best) { return best > 0 ? got / best : 1.0; }

}  // namespace

StrategyTotals& StrategyTotals::operator+=(const StrategyTotals& other) {
    cost += other.cost;
    wall_s += other.wall_s;
    return *this;
}

double EvaluationResult::carbon_saved_fraction(const StrategyTotals& s) const {
    return fraction(run_now.cost.carbon_g - s.cost.carbon_g, run_now.cost.carbon_g);
}

double EvaluationResult::cost_saved_fraction(const StrategyTotals& s) const {
    return fraction(run_now.cost.total_usd() - s.cost.total_usd(), run_now.cost.total_usd());
}

double EvaluationResult::share_of_perfect_carbon_savings() const {
    return share(run_now.cost.carbon_g - forecast_plan.cost.carbon_g,
                 run_now.cost.carbon_g - perfect_plan.cost.carbon_g);
}

double EvaluationResult::share_of_perfect_cost_savings() const {
    return share(run_now.cost.total_usd() - forecast_plan.cost.total_usd(),
                 run_now.cost.total_usd() - perfect_plan.cost.total_usd());
}

EvaluationResult& EvaluationResult::operator+=(const EvaluationResult& other) {
    run_now += other.run_now;
    forecast_plan += other.forecast_plan;
    perfect_plan += other.perfect_plan;
    best_window += other.best_window;
    best_window_overload_gpu_h += other.best_window_overload_gpu_h;
    jobs_compared += other.jobs_compared;
    jobs_not_compared += other.jobs_not_compared;
    return *this;
}

Plan best_window_plan(const Problem& forecast, WindowScope scope) {
    Plan plan;
    plan.assignments.resize(forecast.jobs().size());
    for (std::size_t j = 0; j < forecast.jobs().size(); ++j) {
        const PlanJob& job = forecast.jobs()[j];
        double best = std::numeric_limits<double>::infinity();
        for (const SiteWindow& w : job.windows) {
            if (scope == WindowScope::first_site && w.site != job.run_now_site) continue;
            for (int k = w.first_slot; k + job.slots_needed <= w.end_slot; ++k) {
                // Mean forecast intensity over the run, weighted by the hours run in each slot.
                double intensity = 0;
                for (int i = 0; i < job.slots_needed; ++i) {
                    const double hours = i + 1 == job.slots_needed ? job.last_hours : 1.0;
                    intensity += hours * forecast.carbon_g_per_kwh(w.site, k + i);
                }
                if (intensity < best) {
                    best = intensity;
                    plan.assignments[j] = forecast.contiguous(job, w.site, k);
                }
            }
        }
    }
    return plan;
}

core::Result<EvaluationResult> evaluate(const std::vector<Job>& jobs, const SiteSet& sites,
                                        std::optional<double> from_unix_s, const ForecastOptions& forecast,
                                        SolverKind solver, const SolveOptions& options, WindowScope scope) {
    auto actual = Problem::build(jobs, sites, from_unix_s);
    if (!actual) return tl::unexpected(actual.error());
    auto predicted = actual->with_sites(forecast_sites(sites, actual->start_unix_s(), forecast));
    if (!predicted) return tl::unexpected(predicted.error());

    auto perfect = solve(*actual, solver, options);
    if (!perfect) return tl::unexpected(perfect.error());
    auto planned = solve(*predicted, solver, options);
    if (!planned) return tl::unexpected(planned.error());
    const Plan window = best_window_plan(*predicted, scope);

    EvaluationResult result;
    result.jobs_not_compared = static_cast<int>(actual->unplanned().size());
    result.perfect_plan.wall_s = perfect->wall_s;
    result.forecast_plan.wall_s = planned->wall_s;
    std::vector<int> used(static_cast<std::size_t>(actual->sites()) * actual->slots(), 0);
    for (std::size_t j = 0; j < actual->jobs().size(); ++j) {
        const PlanJob& job = actual->jobs()[j];
        const Assignment& a = planned->plan.assignments[j];
        const Assignment& p = perfect->plan.assignments[j];
        if (!a.placed() || !p.placed() || !window.assignments[j].placed()) {
            ++result.jobs_not_compared;
            continue;
        }
        ++result.jobs_compared;
        result.run_now.cost += actual->cost(job, actual->run_now(job));
        result.forecast_plan.cost += actual->cost(job, a);
        result.perfect_plan.cost += actual->cost(job, p);
        const Assignment& w = window.assignments[j];
        result.best_window.cost += actual->cost(job, w);
        for (const SlotUse& use : w.slots) {
            used[static_cast<std::size_t>(w.site) * actual->slots() + use.slot] += job.gpus;
        }
    }
    for (int s = 0; s < actual->sites(); ++s) {
        for (int t = 0; t < actual->slots(); ++t) {
            result.best_window_overload_gpu_h +=
                std::max(0, used[static_cast<std::size_t>(s) * actual->slots() + t] - actual->capacity(s));
        }
    }
    return result;
}

}  // namespace joulepilot::sched
