// The `exact` solver (solver.hpp): a time-indexed MILP solved by COIN-OR CBC.
//
// Columns, per job j:
//   u_j            binary, 1 = left unplaced (costs the problem's unplaced penalty)
//   non-interruptible: a_{j,s,k} binary, 1 = contiguous run from slot k at site s; cost = the run's cost
//   interruptible, per allowed site s and slot t of the window:
//     z_{j,s} binary (runs at s), x_{j,s,t} binary (occupies t), w_{j,s,t} in [0,1] (hours run in t,
//     cost = the job's hourly cost there), y_{j,s,t} in [0,1] (a piece starts at t); L_j >= 0 hours late
// Rows:
//   sum_k a + u = 1   |   sum_s z + u = 1
//   x <= z,  w <= x,  y_t >= x_t - x_{t-1}
//   sum w - overhead * sum y + (work - overhead) * u >= work - overhead   (run time incl. resumptions)
//   sum x - sum w < 1                                                       (idle below one hour)
//   L >= (t + 1 - due) * x_t                                                (lateness, when priced)
//   per site and slot: sum of GPUs of the runs and x's covering it <= capacity
// The objective is Problem::objective() term for term, so CBC's bound is a bound on it.
// CBC runs with the usual cut generators and heuristics, the fast plan as its first incumbent.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <coin/CbcHeuristic.hpp>
#include <coin/CbcHeuristicFPump.hpp>
#include <coin/CbcHeuristicLocal.hpp>
#include <coin/CbcModel.hpp>
#include <coin/CglClique.hpp>
#include <coin/CglFlowCover.hpp>
#include <coin/CglGomory.hpp>
#include <coin/CglKnapsackCover.hpp>
#include <coin/CglMixedIntegerRounding2.hpp>
#include <coin/CglProbing.hpp>
#include <coin/CoinPackedMatrix.hpp>
#include <coin/CoinPackedVector.hpp>
#include <coin/OsiClpSolverInterface.hpp>

#include "sched/solver.hpp"

namespace joulepilot::sched {

namespace {

struct Column {
    double lower = 0;
    double upper = 1;
    double cost = 0;
    bool integer = true;
};

struct Row {
    CoinPackedVector entries;
    double lower = -COIN_DBL_MAX;
    double upper = COIN_DBL_MAX;
};

// Where a job's columns are, to read the solution back and to write the MIP start.
struct JobColumns {
    int unplaced = -1;
    struct Start {
        int column;
        int site;
        int slot;
    };
    std::vector<Start> starts;  // non-interruptible
    struct SiteColumns {
        int site;
        int first_slot;
        int z;
        int x;  // first x column; slot t is x + (t - first_slot), likewise w and y
        int w;
        int y;
        int slots;
    };
    std::vector<SiteColumns> sites;  // interruptible
    int lateness = -1;
};

class MilpBuilder {
public:
    explicit MilpBuilder(const Problem& problem) : m_problem(problem) {}

    std::size_t count_columns() const {
        std::size_t n = 0;
        for (const PlanJob& job : m_problem.jobs()) {
            n += 2;
            for (const SiteWindow& w : job.windows) {
                const int width = w.end_slot - w.first_slot;
                n += job.interruptible ? 1 + 3 * static_cast<std::size_t>(width)
                                       : static_cast<std::size_t>(width - job.slots_needed + 1);
            }
        }
        return n;
    }

    void build() {
        const int sites = m_problem.sites();
        const int slots = m_problem.slots();
        std::vector<std::vector<std::pair<int, double>>> capacity(static_cast<std::size_t>(sites) * slots);
        auto cap_row = [&](int site, int slot) -> auto& {
            return capacity[static_cast<std::size_t>(site) * slots + slot];
        };
        const double late_price = m_problem.weights().lateness_usd_per_h;
        for (const PlanJob& job : m_problem.jobs()) {
            JobColumns cols;
            cols.unplaced = add_column({0, 1, m_problem.unplaced_penalty_usd(), true});
            Row choose;
            choose.entries.insert(cols.unplaced, 1.0);
            choose.lower = choose.upper = 1;
            if (!job.interruptible) {
                for (const SiteWindow& w : job.windows) {
                    for (int k = w.first_slot; k + job.slots_needed <= w.end_slot; ++k) {
                        const int c = add_column({0, 1, m_problem.contiguous_cost(job, w.site, k), true});
                        cols.starts.push_back({c, w.site, k});
                        choose.entries.insert(c, 1.0);
                        for (int t = k; t < k + job.slots_needed; ++t)
                            cap_row(w.site, t).emplace_back(c, job.gpus);
                    }
                }
                m_rows.push_back(std::move(choose));
                m_jobs.push_back(std::move(cols));
                continue;
            }
            const bool priced_late = job.due_h && late_price > 0;
            if (priced_late) cols.lateness = add_column({0, COIN_DBL_MAX, late_price, false});
            Row work;
            work.lower = job.work_h - job.overhead_h;
            Row idle;  // occupied slots - run hours <= kMaxIdleHours
            idle.upper = kMaxIdleHours;
            work.entries.insert(cols.unplaced, job.work_h - job.overhead_h);
            for (const SiteWindow& w : job.windows) {
                JobColumns::SiteColumns sc{};
                sc.site = w.site;
                sc.first_slot = w.first_slot;
                sc.slots = w.end_slot - w.first_slot;
                sc.z = add_column({0, 1, 0, true});
                choose.entries.insert(sc.z, 1.0);
                sc.x = static_cast<int>(m_columns.size());
                for (int t = w.first_slot; t < w.end_slot; ++t) add_column({0, 1, 0, true});
                sc.w = static_cast<int>(m_columns.size());
                for (int t = w.first_slot; t < w.end_slot; ++t) {
                    add_column({0, 1, m_problem.hourly_cost(job, w.site, t), false});
                }
                sc.y = static_cast<int>(m_columns.size());
                for (int t = w.first_slot; t < w.end_slot; ++t) add_column({0, 1, 0, false});
                for (int i = 0; i < sc.slots; ++i) {
                    const int t = w.first_slot + i;
                    add_row({{sc.x + i, 1.0}, {sc.z, -1.0}}, -COIN_DBL_MAX, 0);      // x <= z
                    add_row({{sc.w + i, 1.0}, {sc.x + i, -1.0}}, -COIN_DBL_MAX, 0);  // w <= x
                    if (i == 0) {
                        add_row({{sc.x, 1.0}, {sc.y, -1.0}}, -COIN_DBL_MAX, 0);
                    } else {
                        add_row({{sc.x + i, 1.0}, {sc.x + i - 1, -1.0}, {sc.y + i, -1.0}}, -COIN_DBL_MAX, 0);
                    }
                    work.entries.insert(sc.w + i, 1.0);
                    idle.entries.insert(sc.x + i, 1.0);
                    idle.entries.insert(sc.w + i, -1.0);
                    work.entries.insert(sc.y + i, -job.overhead_h);
                    cap_row(w.site, t).emplace_back(sc.x + i, job.gpus);
                    if (priced_late && t + 1 > *job.due_h) {
                        add_row({{sc.x + i, t + 1 - *job.due_h}, {cols.lateness, -1.0}}, -COIN_DBL_MAX, 0);
                    }
                }
                cols.sites.push_back(sc);
            }
            m_rows.push_back(std::move(choose));
            m_rows.push_back(std::move(work));
            m_rows.push_back(std::move(idle));
            m_jobs.push_back(std::move(cols));
        }
        for (int s = 0; s < sites; ++s) {
            for (int t = 0; t < slots; ++t) {
                const auto& entries = cap_row(s, t);
                // A row that can never bind only slows CBC down.
                double most = 0;
                for (const auto& [column, gpus] : entries) most += gpus;
                if (most <= m_problem.capacity(s)) continue;
                Row row;
                for (const auto& [column, gpus] : entries) row.entries.insert(column, gpus);
                row.upper = m_problem.capacity(s);
                m_rows.push_back(std::move(row));
            }
        }
    }

    // Column values of a plan (the MIP start).
    std::vector<double> values_of(const Plan& plan) const {
        std::vector<double> v(m_columns.size(), 0.0);
        for (std::size_t j = 0; j < m_jobs.size(); ++j) {
            const PlanJob& job = m_problem.jobs()[j];
            const JobColumns& cols = m_jobs[j];
            const Assignment& a = plan.assignments[j];
            if (!a.placed()) {
                v[static_cast<std::size_t>(cols.unplaced)] = 1;
                continue;
            }
            if (!job.interruptible) {
                for (const auto& start : cols.starts) {
                    if (start.site == a.site && start.slot == a.slots.front().slot)
                        v[static_cast<std::size_t>(start.column)] = 1;
                }
                continue;
            }
            for (const auto& sc : cols.sites) {
                if (sc.site != a.site) continue;
                v[static_cast<std::size_t>(sc.z)] = 1;
                for (std::size_t k = 0; k < a.slots.size(); ++k) {
                    const SlotUse& use = a.slots[k];
                    const int i = use.slot - sc.first_slot;
                    v[static_cast<std::size_t>(sc.x + i)] = 1;
                    v[static_cast<std::size_t>(sc.w + i)] = use.hours;
                    if (k == 0 || a.slots[k - 1].slot != use.slot - 1)
                        v[static_cast<std::size_t>(sc.y + i)] = 1;
                }
            }
            if (cols.lateness >= 0 && job.due_h) {
                v[static_cast<std::size_t>(cols.lateness)] =
                    std::max(0.0, m_problem.finish_h(job, a) - *job.due_h);
            }
        }
        return v;
    }

    Plan plan_of(const double* values) const {
        Plan plan;
        plan.assignments.resize(m_jobs.size());
        for (std::size_t j = 0; j < m_jobs.size(); ++j) {
            const PlanJob& job = m_problem.jobs()[j];
            const JobColumns& cols = m_jobs[j];
            Assignment& a = plan.assignments[j];
            if (!job.interruptible) {
                for (const auto& start : cols.starts) {
                    if (values[start.column] > 0.5) a = m_problem.contiguous(job, start.site, start.slot);
                }
                continue;
            }
            for (const auto& sc : cols.sites) {
                if (values[sc.z] < 0.5) continue;
                a.site = sc.site;
                for (int i = 0; i < sc.slots; ++i) {
                    if (values[sc.x + i] > 0.5) {
                        a.slots.push_back({sc.first_slot + i, std::clamp(values[sc.w + i], 0.0, 1.0)});
                    }
                }
            }
        }
        return plan;
    }

    void load(OsiClpSolverInterface& solver) const {
        CoinPackedMatrix matrix(false, 0, 0);
        matrix.setDimensions(0, static_cast<int>(m_columns.size()));
        std::vector<double> row_lower;
        std::vector<double> row_upper;
        for (const Row& row : m_rows) {
            matrix.appendRow(row.entries);
            row_lower.push_back(row.lower);
            row_upper.push_back(row.upper);
        }
        std::vector<double> col_lower;
        std::vector<double> col_upper;
        std::vector<double> cost;
        for (const Column& c : m_columns) {
            col_lower.push_back(c.lower);
            col_upper.push_back(c.upper);
            cost.push_back(c.cost);
        }
        solver.loadProblem(matrix, col_lower.data(), col_upper.data(), cost.data(), row_lower.data(),
                           row_upper.data());
        for (std::size_t i = 0; i < m_columns.size(); ++i) {
            if (m_columns[i].integer) solver.setInteger(static_cast<int>(i));
        }
    }

    [[nodiscard]] std::size_t columns() const { return m_columns.size(); }
    [[nodiscard]] std::size_t rows() const { return m_rows.size(); }

private:
    int add_column(Column c) {
        m_columns.push_back(c);
        return static_cast<int>(m_columns.size() - 1);
    }
    void add_row(std::initializer_list<std::pair<int, double>> entries, double lower, double upper) {
        Row row;
        for (const auto& [column, value] : entries) row.entries.insert(column, value);
        row.lower = lower;
        row.upper = upper;
        m_rows.push_back(std::move(row));
    }

    const Problem& m_problem;
    std::vector<Column> m_columns;
    std::vector<Row> m_rows;
    std::vector<JobColumns> m_jobs;
};

}  // namespace

core::Result<SolveResult> solve_exact(const Problem& problem, const SolveOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    MilpBuilder builder(problem);
    const std::size_t columns = builder.count_columns();
    if (columns > options.exact_max_columns) {
        return core::fail(
            fmt::format("exact: {} jobs make {} MILP columns, above the limit of {}; use --solver fast",
                        problem.jobs().size(), columns, options.exact_max_columns));
    }
    SolveResult result;
    result.solver = SolverKind::exact;
    if (problem.jobs().empty()) return result;
    builder.build();

    OsiClpSolverInterface solver;
    solver.messageHandler()->setLogLevel(0);
    builder.load(solver);

    // The fast plan as the incumbent: CBC then only has to improve on it, and never returns worse.
    const SolveResult warm = solve_fast(problem, options);
    const std::vector<double> warm_values = builder.values_of(warm.plan);

    // CBC's stand-alone driver (CbcMain1) crashes in its preprocessing post-pass on some of these models
    // (Debian's CBC 2.10.8), so the model is driven directly with the usual cut generators and heuristics.
    CbcModel model(solver);
    model.setLogLevel(0);
    model.messageHandler()->setLogLevel(0);
    model.setUseElapsedTime(true);  // the limit is wall time, as a user reads it
    model.setMaximumSeconds(std::max(0.1, options.time_limit_s));
    CglProbing probing;
    probing.setUsingObjective(true);
    probing.setMaxPass(3);
    probing.setMaxProbe(100);
    probing.setMaxLook(50);
    CglGomory gomory;
    gomory.setLimit(300);
    CglKnapsackCover knapsack;
    CglClique clique;
    clique.setStarCliqueReport(false);
    clique.setRowCliqueReport(false);
    CglMixedIntegerRounding2 mir;
    CglFlowCover flow;
    model.addCutGenerator(&probing, -1, "Probing");
    model.addCutGenerator(&gomory, -1, "Gomory");
    model.addCutGenerator(&knapsack, -1, "Knapsack");
    model.addCutGenerator(&clique, -1, "Clique");
    model.addCutGenerator(&mir, -1, "MIR2");
    model.addCutGenerator(&flow, -1, "FlowCover");
    CbcRounding rounding(model);
    model.addHeuristic(&rounding);
    CbcHeuristicLocal local(model);
    model.addHeuristic(&local);
    CbcHeuristicFPump pump(model);
    model.addHeuristic(&pump);
    model.setBestSolution(warm_values.data(), static_cast<int>(warm_values.size()), COIN_DBL_MAX, true);
    model.initialSolve();
    model.branchAndBound();

    const double* values = model.bestSolution();
    if (values == nullptr) {
        // CBC found nothing better than nothing within the limit: the MIP start is still a valid plan.
        result.plan = warm.plan;
        result.note = "CBC found no plan within the time limit; the fast plan is returned";
    } else {
        result.plan = builder.plan_of(values);
        if (const std::string problem_found = problem.check(result.plan); !problem_found.empty()) {
            return core::fail("exact: CBC's plan fails the plan check: " + problem_found);
        }
    }
    result.objective_usd = problem.objective(result.plan);
    if (warm.objective_usd < result.objective_usd) {
        // Rounding in CBC's tolerances can leave its plan a hair worse than the start it was given.
        result.plan = warm.plan;
        result.objective_usd = warm.objective_usd;
    }
    result.proven_optimal = model.isProvenOptimal();
    result.bound_usd = result.proven_optimal
                           ? result.objective_usd
                           : std::min(result.objective_usd, model.getBestPossibleObjValue());
    if (!result.proven_optimal && result.note.empty()) {
        result.note =
            fmt::format("CBC stopped at the {} s limit before proving optimality", options.time_limit_s);
    }
    result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace joulepilot::sched
