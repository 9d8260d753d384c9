#pragma once
// What a plan means for each job: where and when it runs, its energy, carbon and cost, and a receipt
// against running it right away (contiguously from its earliest start at its first allowed site, as if
// it were alone: capacity is not considered for the run-now baseline). Totals, unplanned jobs with their
// reasons, and the solver's optimality gap when the exact solver ran.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sched/problem.hpp"
#include "sched/solver.hpp"

namespace joulepilot::sched {

struct Receipt {
    std::size_t job = 0;  // index into the job list
    std::string id;
    std::string site;
    Assignment assignment;
    double start_unix_s = 0;
    double finish_unix_s = 0;
    double earliest_start_unix_s = 0;  // the job's window (PlanJob), carried into the plan file
    double deadline_unix_s = 0;
    JobCost planned;
    std::string run_now_site;
    double run_now_start_unix_s = 0;
    JobCost run_now;
};

struct PlanReport {
    SolverKind solver = SolverKind::fast;
    double objective_usd = 0;  // the plan's objective over its placed jobs
    double wall_s = 0;
    std::optional<double> gap;  // exact solver only
    bool proven_optimal = false;
    std::string note;
    std::vector<Receipt> receipts;
    std::vector<UnplannedJob> unplanned;  // build-time and capacity failures, by job index
    JobCost planned_total;
    JobCost run_now_total;  // of the planned jobs only, so the two totals compare like with like
};

PlanReport make_report(const Problem& problem, const SolveResult& result);

// JSON of the report (times as UTC strings, energy in kWh, carbon in kg, money in $), and a text table.
nlohmann::json report_json(const PlanReport& report, const Problem& problem);
std::string report_text(const PlanReport& report, const Problem& problem);

// "2023-06-01T08:00:00Z"
std::string utc_text(double unix_s);

}  // namespace joulepilot::sched
