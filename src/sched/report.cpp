#include "sched/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "twin/facility/civil_time.hpp"

namespace joulepilot::sched {

namespace {

using nlohmann::json;

json cost_json(const JobCost& c) {
    return {{"it_energy_kwh", core::to_kwh(core::Joules(c.it_energy_j))},
            {"facility_energy_kwh", core::to_kwh(core::Joules(c.facility_energy_j))},
            {"carbon_kg", c.carbon_g / 1000},
            {"energy_usd", c.energy_usd},
            {"carbon_usd", c.carbon_usd},
            {"gpu_usd", c.gpu_usd},
            {"lateness_usd", c.lateness_usd},
            {"total_usd", c.total_usd()}};
}

json savings_json(const JobCost& planned, const JobCost& run_now) {
    const auto share = [](double saved, double base) { return base > 0 ? saved / base : 0.0; };
    const double carbon = run_now.carbon_g - planned.carbon_g;
    const double money = run_now.total_usd() - planned.total_usd();
    const double energy = run_now.facility_energy_j - planned.facility_energy_j;
    return {{"carbon_kg", carbon / 1000},
            {"carbon_fraction", share(carbon, run_now.carbon_g)},
            {"total_usd", money},
            {"total_fraction", share(money, run_now.total_usd())},
            {"facility_energy_kwh", core::to_kwh(core::Joules(energy))}};
}

}  // namespace

std::string utc_text(double unix_s) {
    std::string text = twin::format_naive_datetime(static_cast<std::int64_t>(std::floor(unix_s)));
    text[10] = 'T';
    return text + "Z";
}

PlanReport make_report(const Problem& problem, const SolveResult& result) {
    PlanReport report;
    report.solver = result.solver;
    report.wall_s = result.wall_s;
    report.gap = result.gap();
    report.proven_optimal = result.proven_optimal;
    report.note = result.note;
    report.unplanned = problem.unplanned();
    for (auto& failure : capacity_failures(problem, result.plan))
        report.unplanned.push_back(std::move(failure));
    std::sort(report.unplanned.begin(), report.unplanned.end(),
              [](const UnplannedJob& a, const UnplannedJob& b) { return a.job < b.job; });
    for (std::size_t j = 0; j < problem.jobs().size(); ++j) {
        const PlanJob& job = problem.jobs()[j];
        const Assignment& a = result.plan.assignments[j];
        if (!a.placed()) continue;
        Receipt r;
        r.job = job.job;
        r.id = job.id;
        r.site = problem.site_name(a.site);
        r.assignment = a;
        r.start_unix_s = problem.slot_start_unix_s(a.slots.front().slot);
        r.finish_unix_s = problem.start_unix_s() + problem.finish_h(job, a) * kSlotSeconds;
        r.earliest_start_unix_s = job.earliest_unix_s;
        r.deadline_unix_s = job.deadline_unix_s;
        r.planned = problem.cost(job, a);
        const Assignment now = problem.run_now(job);
        r.run_now_site = problem.site_name(now.site);
        r.run_now_start_unix_s = problem.slot_start_unix_s(now.slots.front().slot);
        r.run_now = problem.cost(job, now);
        report.planned_total += r.planned;
        report.run_now_total += r.run_now;
        report.objective_usd += r.planned.total_usd();
        report.receipts.push_back(std::move(r));
    }
    return report;
}

json report_json(const PlanReport& report, const Problem& problem) {
    json out;
    out["solver"] = to_string(report.solver);
    out["plan_start"] = utc_text(problem.start_unix_s());
    out["objective_usd"] = report.objective_usd;
    out["solve_wall_s"] = report.wall_s;
    if (report.gap) out["optimality_gap"] = *report.gap;
    if (report.solver == SolverKind::exact) out["proven_optimal"] = report.proven_optimal;
    if (!report.note.empty()) out["note"] = report.note;
    out["weights"] = {{"carbon_price_usd_per_t", problem.weights().carbon_price_usd_per_t},
                      {"lateness_usd_per_h", problem.weights().lateness_usd_per_h}};
    json jobs = json::array();
    for (const Receipt& r : report.receipts) {
        json pieces = json::array();
        const auto& slots = r.assignment.slots;
        for (std::size_t k = 0; k < slots.size();) {
            std::size_t end = k + 1;
            double hours = slots[k].hours;
            while (end < slots.size() && slots[end].slot == slots[end - 1].slot + 1)
                hours += slots[end++].hours;
            pieces.push_back({{"start", utc_text(problem.slot_start_unix_s(slots[k].slot))},
                              {"end", utc_text(problem.slot_start_unix_s(slots[end - 1].slot + 1))},
                              {"run_hours", hours}});
            k = end;
        }
        jobs.push_back({{"id", r.id},
                        {"site", r.site},
                        {"start", utc_text(r.start_unix_s)},
                        {"finish", utc_text(r.finish_unix_s)},
                        // The job's window, so that `schedule run` never releases it outside it.
                        {"earliest_start", utc_text(std::ceil(r.earliest_start_unix_s))},
                        {"deadline", utc_text(r.deadline_unix_s)},
                        {"pieces", pieces},
                        {"expected", cost_json(r.planned)},
                        {"run_now",
                         {{"site", r.run_now_site},
                          {"start", utc_text(r.run_now_start_unix_s)},
                          {"cost", cost_json(r.run_now)}}},
                        {"saved", savings_json(r.planned, r.run_now)}});
    }
    out["jobs"] = jobs;
    json unplanned = json::array();
    for (const UnplannedJob& u : report.unplanned) {
        unplanned.push_back({{"reason", to_string(u.reason)}, {"message", u.message}});
    }
    out["unplanned"] = unplanned;
    out["totals"] = {{"planned", cost_json(report.planned_total)},
                     {"run_now", cost_json(report.run_now_total)},
                     {"saved", savings_json(report.planned_total, report.run_now_total)},
                     {"jobs_planned", report.receipts.size()},
                     {"jobs_unplanned", report.unplanned.size()}};
    return out;
}

std::string report_text(const PlanReport& report, const Problem& problem) {
    std::string out = fmt::format("plan from {} | solver {} | {} jobs planned, {} not | objective ${:.2f}",
                                  utc_text(problem.start_unix_s()), to_string(report.solver),
                                  report.receipts.size(), report.unplanned.size(), report.objective_usd);
    if (report.gap)
        out += fmt::format(" | gap {:.3f}%{}", 100 * *report.gap, report.proven_optimal ? " (optimal)" : "");
    out += fmt::format(" | {:.3f} s\n", report.wall_s);
    if (!report.note.empty()) out += "note: " + report.note + "\n";
    out += fmt::format("{:<20} {:<14} {:<21} {:>6} {:>9} {:>9} {:>10} {:>9} {:>8}\n", "job", "site", "start",
                       "pieces", "kWh", "kgCO2", "$", "saved kg", "saved $");
    for (const Receipt& r : report.receipts) {
        out += fmt::format("{:<20} {:<14} {:<21} {:>6} {:>9.1f} {:>9.2f} {:>10.2f} {:>9.2f} {:>8.2f}\n", r.id,
                           r.site, utc_text(r.start_unix_s), r.assignment.pieces(),
                           core::to_kwh(core::Joules(r.planned.facility_energy_j)), r.planned.carbon_g / 1000,
                           r.planned.total_usd(), (r.run_now.carbon_g - r.planned.carbon_g) / 1000,
                           r.run_now.total_usd() - r.planned.total_usd());
    }
    const JobCost& p = report.planned_total;
    const JobCost& n = report.run_now_total;
    const auto pct = [](double saved, double base) { return base > 0 ? 100 * saved / base : 0.0; };
    out += fmt::format(
        "total: {:.1f} kWh, {:.2f} kgCO2, ${:.2f} | run now: {:.1f} kWh, {:.2f} kgCO2, ${:.2f} | "
        "saved {:.2f} kgCO2 ({:.1f}%), ${:.2f} ({:.1f}%)\n",
        core::to_kwh(core::Joules(p.facility_energy_j)), p.carbon_g / 1000, p.total_usd(),
        core::to_kwh(core::Joules(n.facility_energy_j)), n.carbon_g / 1000, n.total_usd(),
        (n.carbon_g - p.carbon_g) / 1000, pct(n.carbon_g - p.carbon_g, n.carbon_g),
        n.total_usd() - p.total_usd(), pct(n.total_usd() - p.total_usd(), n.total_usd()));
    for (const UnplannedJob& u : report.unplanned)
        out += fmt::format("not planned [{}]: {}\n", to_string(u.reason), u.message);
    return out;
}

}  // namespace joulepilot::sched
