// The `fast` solver (solver.hpp): greedy placement, local search, ruin and recreate; parse_solver and solve().
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "sched/solver.hpp"

namespace joulepilot::sched {

namespace detail {

Occupancy::Occupancy(const Problem& problem)
    : m_slots(problem.slots()), m_free(static_cast<std::size_t>(problem.sites()) * problem.slots()) {
    for (int s = 0; s < problem.sites(); ++s) {
        std::fill_n(m_free.begin() + static_cast<std::ptrdiff_t>(index(s, 0)), m_slots, problem.capacity(s));
    }
}

void Occupancy::add(const PlanJob& job, const Assignment& a, int sign) {
    for (const SlotUse& use : a.slots) m_free[index(a.site, use.slot)] -= sign * job.gpus;
}

namespace {

constexpr double kEps = 1e-9;

// Cheapest contiguous start in one window with `gpus` free in every slot of the run (or anywhere when
// `occupancy` is null). Returns the start, or -1.
int cheapest_start(const Problem& problem, const PlanJob& job, const SiteWindow& w,
                   const Occupancy* occupancy, double& cost) {
    const int n = job.slots_needed;
    int best = -1;
    int blocked = 0;  // slots in [k, k + n) without room
    auto full = [&](int t) { return occupancy != nullptr && occupancy->free(w.site, t) < job.gpus; };
    for (int t = w.first_slot; t < w.first_slot + n - 1; ++t) blocked += full(t) ? 1 : 0;
    for (int k = w.first_slot; k + n <= w.end_slot; ++k) {
        blocked += full(k + n - 1) ? 1 : 0;
        if (blocked == 0) {
            const double c = problem.contiguous_cost(job, w.site, k);
            if (best < 0 || c < cost - kEps) {
                best = k;
                cost = c;
            }
        }
        blocked -= full(k) ? 1 : 0;
    }
    return best;
}

Option cheapest_slot_set_impl(const Problem& problem, const PlanJob& job, const SiteWindow& w,
                              const Occupancy* occupancy) {
    struct Candidate {
        double cost;
        int slot;
    };
    std::vector<Candidate> candidates;
    candidates.reserve(static_cast<std::size_t>(w.end_slot - w.first_slot));
    for (int t = w.first_slot; t < w.end_slot; ++t) {
        if (occupancy == nullptr || occupancy->free(w.site, t) >= job.gpus) {
            candidates.push_back({problem.hourly_cost(job, w.site, t), t});
        }
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
        return a.cost < b.cost || (a.cost == b.cost && a.slot < b.slot);
    });
    // Add the cheapest free slots until they hold the work plus one overhead per extra piece.
    std::vector<char> chosen(static_cast<std::size_t>(w.end_slot - w.first_slot + 2), 0);
    auto is_chosen = [&](int t) { return chosen[static_cast<std::size_t>(t - w.first_slot + 1)] != 0; };
    int pieces = 0;
    std::size_t count = 0;
    double need = 0;
    for (; count < candidates.size(); ++count) {
        const int t = candidates[count].slot;
        pieces += 1 - (is_chosen(t - 1) ? 1 : 0) - (is_chosen(t + 1) ? 1 : 0);
        chosen[static_cast<std::size_t>(t - w.first_slot + 1)] = 1;
        need = Problem::required_hours(job, pieces);
        if (static_cast<double>(count + 1) >= need - kEps) {
            ++count;
            break;
        }
    }
    Option option;
    if (static_cast<double>(count) < need - kEps || count == 0) return option;
    // A slot added only to join two pieces can leave a whole idle hour: give up the dearest slot that
    // does not split a piece until the idle time is below one hour again.
    std::vector<Candidate> kept(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(count));
    while (static_cast<double>(kept.size()) - need > kMaxIdleHours) {
        std::size_t drop = kept.size();
        for (std::size_t i = kept.size(); i-- > 0;) {
            const int t = kept[i].slot;
            if (!(is_chosen(t - 1) && is_chosen(t + 1))) {
                drop = i;
                break;
            }
        }
        if (drop == kept.size()) return option;
        const int t = kept[drop].slot;
        pieces -= (!is_chosen(t - 1) && !is_chosen(t + 1)) ? 1 : 0;
        chosen[static_cast<std::size_t>(t - w.first_slot + 1)] = 0;
        kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(drop));
        need = Problem::required_hours(job, pieces);
        if (static_cast<double>(kept.size()) < need - kEps) return option;
    }
    candidates = std::move(kept);
    count = candidates.size();
    // Full hours in the cheapest slots, the rest in the next; a slot kept only to join two pieces may
    // run zero hours (its GPUs stay reserved).
    option.assignment.site = w.site;
    double remaining = need;
    for (std::size_t i = 0; i < count; ++i) {
        const double hours = std::clamp(remaining, 0.0, 1.0);
        remaining -= hours;
        option.assignment.slots.push_back({candidates[i].slot, hours});
    }
    std::sort(option.assignment.slots.begin(), option.assignment.slots.end(),
              [](const SlotUse& a, const SlotUse& b) { return a.slot < b.slot; });
    option.cost_usd = problem.cost(job, option.assignment).total_usd();
    return option;
}

Option best_option_impl(const Problem& problem, const PlanJob& job, const Occupancy* occupancy) {
    Option best;
    for (const SiteWindow& w : job.windows) {
        double cost = 0;
        const int start = cheapest_start(problem, job, w, occupancy, cost);
        if (start >= 0 && (!best.assignment.placed() || cost < best.cost_usd - kEps)) {
            best.assignment = problem.contiguous(job, w.site, start);
            best.cost_usd = cost;
        }
        if (job.interruptible) {
            Option set = cheapest_slot_set_impl(problem, job, w, occupancy);
            if (set.assignment.placed() &&
                (!best.assignment.placed() || set.cost_usd < best.cost_usd - kEps)) {
                best = std::move(set);
            }
        }
    }
    return best;
}

}  // namespace

Option best_option(const Problem& problem, const PlanJob& job, const Occupancy& occupancy) {
    return best_option_impl(problem, job, &occupancy);
}

}  // namespace detail

namespace {

using detail::Occupancy;
using detail::Option;

constexpr double kImprovement = 1e-7;  // $: smaller changes are rounding, not progress

// Least flexible first: fewest start options, then the most GPU-hours (hardest to fit later).
std::vector<double> flexibility_of(const Problem& problem) {
    const auto& jobs = problem.jobs();
    std::vector<double> flexibility(jobs.size(), 0);
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        for (const SiteWindow& w : jobs[j].windows)
            flexibility[j] += w.end_slot - w.first_slot - jobs[j].slots_needed + 1;
    }
    return flexibility;
}

std::vector<std::size_t> placement_order(const Problem& problem, const std::vector<double>& flexibility) {
    const auto& jobs = problem.jobs();
    std::vector<std::size_t> order(jobs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (flexibility[a] != flexibility[b]) return flexibility[a] < flexibility[b];
        return jobs[a].gpus * jobs[a].work_h > jobs[b].gpus * jobs[b].work_h;
    });
    return order;
}

class LocalSearch {
public:
    LocalSearch(const Problem& problem, Plan& plan, Occupancy& occupancy)
        : m_problem(problem), m_plan(plan), m_occupancy(occupancy), m_costs(problem.jobs().size()) {
        for (std::size_t j = 0; j < m_costs.size(); ++j) m_costs[j] = cost_of(j, plan.assignments[j]);
    }

    // Remove the job and put it back at its cheapest free option.
    bool reinsert(std::size_t j) {
        const PlanJob& job = m_problem.jobs()[j];
        Assignment& current = m_plan.assignments[j];
        m_occupancy.add(job, current, -1);
        Option option = detail::best_option(m_problem, job, m_occupancy);
        if (option.assignment.placed() && option.cost_usd < m_costs[j] - kImprovement) {
            current = std::move(option.assignment);
            m_costs[j] = option.cost_usd;
            m_occupancy.add(job, current, +1);
            return true;
        }
        m_occupancy.add(job, current, +1);
        return false;
    }

    // When capacity keeps a job from a cheaper option (or from any option): take that option, evict just
    // enough of the jobs in its way (most flexible first), and put them back at their cheapest free
    // options; keep the change only if the total falls. Tries the job's options cheapest first: all of
    // them for an unplaced job, a few for a placed one.
    bool eject(std::size_t j, const std::vector<double>& flexibility) {
        const PlanJob& job = m_problem.jobs()[j];
        const bool unplaced = !m_plan.assignments[j].placed();
        std::vector<Option> options = all_options(job);
        int tried = 0;
        for (const Option& option : options) {
            if (option.cost_usd >= m_costs[j] - kImprovement) break;
            if (relocate(j, option, flexibility)) return true;
            if (!unplaced && ++tried >= kEjectTries) break;
        }
        return false;
    }

    // Ruin and recreate: take `group` out (a job and some of the jobs it competes with), put them back one
    // by one in the given order at their cheapest free options, keep the result if their total cost did
    // not rise (equal moves keep the search moving across plateaus), else undo. Reaches moves that
    // reinsert() and eject() cannot: chains where a job gives way to a second which gives way to a third.
    bool recreate(const std::vector<std::size_t>& group) {
        double before = 0;
        std::vector<Assignment> saved;
        saved.reserve(group.size());
        for (std::size_t k : group) {
            before += m_costs[k];
            saved.push_back(m_plan.assignments[k]);
            m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], -1);
            m_plan.assignments[k] = {};
        }
        double after = 0;
        std::vector<double> new_costs;
        new_costs.reserve(group.size());
        for (std::size_t k : group) {
            Option option = detail::best_option(m_problem, m_problem.jobs()[k], m_occupancy);
            m_plan.assignments[k] = std::move(option.assignment);
            m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], +1);
            new_costs.push_back(cost_of(k, m_plan.assignments[k]));
            after += new_costs.back();
            if (after > before + kImprovement) break;  // already worse: no need to place the rest
        }
        if (new_costs.size() == group.size() && after <= before + kImprovement) {
            for (std::size_t i = 0; i < group.size(); ++i) m_costs[group[i]] = new_costs[i];
            return after < before - kImprovement;
        }
        for (std::size_t k : group) m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], -1);
        for (std::size_t i = 0; i < group.size(); ++i) {
            m_plan.assignments[group[i]] = saved[i];
            m_occupancy.add(m_problem.jobs()[group[i]], saved[i], +1);
        }
        return false;
    }

private:
    static constexpr int kEjectTries = 8;

    // Every contiguous start in every window, and an interruptible job's cheapest slot set per site, with
    // capacity ignored; cheapest first.
    [[nodiscard]] std::vector<Option> all_options(const PlanJob& job) const {
        std::vector<Option> out;
        for (const SiteWindow& w : job.windows) {
            for (int k = w.first_slot; k + job.slots_needed <= w.end_slot; ++k) {
                out.push_back(
                    {m_problem.contiguous(job, w.site, k), m_problem.contiguous_cost(job, w.site, k)});
            }
        }
        if (job.interruptible) {
            Option set = detail::best_option_unlimited(m_problem, job);
            if (set.assignment.placed()) out.push_back(std::move(set));
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const Option& a, const Option& b) { return a.cost_usd < b.cost_usd; });
        return out;
    }

    [[nodiscard]] bool fits(const PlanJob& job, const Assignment& a) const {
        return std::all_of(a.slots.begin(), a.slots.end(), [&](const SlotUse& use) {
            return m_occupancy.free(a.site, use.slot) >= job.gpus;
        });
    }

    bool relocate(std::size_t j, const Option& target, const std::vector<double>& flexibility) {
        const PlanJob& job = m_problem.jobs()[j];
        const Assignment saved_own = m_plan.assignments[j];
        double before = m_costs[j];
        m_occupancy.add(job, saved_own, -1);
        m_plan.assignments[j] = {};
        std::vector<std::size_t> blockers;
        for (std::size_t k = 0; k < m_plan.assignments.size(); ++k) {
            if (k != j && overlaps(m_plan.assignments[k], target.assignment)) blockers.push_back(k);
        }
        std::stable_sort(blockers.begin(), blockers.end(),
                         [&](std::size_t a, std::size_t b) { return flexibility[a] > flexibility[b]; });
        std::vector<std::size_t> evicted;
        std::vector<Assignment> saved;
        for (std::size_t k : blockers) {
            if (fits(job, target.assignment)) break;
            before += m_costs[k];
            evicted.push_back(k);
            saved.push_back(m_plan.assignments[k]);
            m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], -1);
            m_plan.assignments[k] = {};
        }
        const bool placed = fits(job, target.assignment);
        double after = target.cost_usd;
        std::vector<double> new_costs;
        if (placed) {
            m_plan.assignments[j] = target.assignment;
            m_occupancy.add(job, target.assignment, +1);
            for (std::size_t k : evicted) {
                Option option = detail::best_option(m_problem, m_problem.jobs()[k], m_occupancy);
                m_plan.assignments[k] = std::move(option.assignment);
                m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], +1);
                new_costs.push_back(cost_of(k, m_plan.assignments[k]));
                after += new_costs.back();
            }
        }
        if (placed && after < before - kImprovement) {
            m_costs[j] = target.cost_usd;
            for (std::size_t i = 0; i < evicted.size(); ++i) m_costs[evicted[i]] = new_costs[i];
            return true;
        }
        // Undo.
        if (placed) {
            m_occupancy.add(job, m_plan.assignments[j], -1);
            for (std::size_t k : evicted) m_occupancy.add(m_problem.jobs()[k], m_plan.assignments[k], -1);
        }
        m_plan.assignments[j] = saved_own;
        m_occupancy.add(job, saved_own, +1);
        for (std::size_t i = 0; i < evicted.size(); ++i) {
            m_plan.assignments[evicted[i]] = saved[i];
            m_occupancy.add(m_problem.jobs()[evicted[i]], saved[i], +1);
        }
        return false;
    }

    [[nodiscard]] double cost_of(std::size_t j, const Assignment& a) const {
        return a.placed() ? m_problem.cost(m_problem.jobs()[j], a).total_usd()
                          : m_problem.unplaced_penalty_usd();
    }
    static bool overlaps(const Assignment& a, const Assignment& b) {
        if (!a.placed() || !b.placed() || a.site != b.site) return false;
        auto i = a.slots.begin();
        auto k = b.slots.begin();
        while (i != a.slots.end() && k != b.slots.end()) {
            if (i->slot == k->slot) return true;
            if (i->slot < k->slot) {
                ++i;
            } else {
                ++k;
            }
        }
        return false;
    }

    const Problem& m_problem;
    Plan& m_plan;
    Occupancy& m_occupancy;
    std::vector<double> m_costs;
};

// The jobs each job competes with for capacity: a common allowed site and overlapping windows there.
// Quadratic in jobs: built for the queues the ruin-and-recreate pass runs on only.
std::vector<std::vector<std::size_t>> competitors_of(const Problem& problem) {
    const auto& jobs = problem.jobs();
    std::vector<std::vector<std::size_t>> out(jobs.size());
    const auto compete = [](const PlanJob& a, const PlanJob& b) {
        for (const SiteWindow& x : a.windows) {
            for (const SiteWindow& y : b.windows) {
                if (x.site == y.site && x.first_slot < y.end_slot && y.first_slot < x.end_slot) return true;
            }
        }
        return false;
    };
    for (std::size_t a = 0; a < jobs.size(); ++a) {
        for (std::size_t b = a + 1; b < jobs.size(); ++b) {
            if (compete(jobs[a], jobs[b])) {
                out[a].push_back(b);
                out[b].push_back(a);
            }
        }
    }
    return out;
}

// Seeded ruin-and-recreate rounds (LocalSearch::recreate): a random job and up to kGroupMax - 1 of its
// competitors, put back in a random order. Each improvement is followed by reinsert moves of the group's
// competitors, which lets jobs that had no room before take the capacity the move freed.
void ruin_and_recreate(const Problem& problem, LocalSearch& search, const SolveOptions& options) {
    constexpr std::size_t kGroupMax = 5;
    const auto competitors = competitors_of(problem);
    std::mt19937_64 random(options.seed);
    const std::size_t n = problem.jobs().size();
    const long iterations = std::min<long>(static_cast<long>(n) * options.fast_recreate_per_job,
                                           options.fast_recreate_max);
    std::vector<std::size_t> group;
    std::vector<std::size_t> pool;
    for (long it = 0; it < iterations; ++it) {
        const std::size_t seed_job = std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
        pool = competitors[seed_job];
        std::shuffle(pool.begin(), pool.end(), random);
        const std::size_t extra = std::uniform_int_distribution<std::size_t>(1, kGroupMax - 1)(random);
        group.assign(1, seed_job);
        group.insert(group.end(), pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(std::min(extra, pool.size())));
        std::shuffle(group.begin(), group.end(), random);
        if (search.recreate(group)) {
            for (std::size_t k : group) {
                for (std::size_t c : competitors[k]) search.reinsert(c);
            }
        }
    }
}

}  // namespace

namespace detail {
Option best_option_unlimited(const Problem& problem, const PlanJob& job) {
    return best_option_impl(problem, job, nullptr);
}
}  // namespace detail

core::Result<SolverKind> parse_solver(std::string_view name) {
    if (name == "exact") return SolverKind::exact;
    if (name == "fast") return SolverKind::fast;
    return core::fail(fmt::format("unknown solver '{}' (exact, fast)", name));
}

const char* to_string(SolverKind kind) {
    switch (kind) {
        case SolverKind::exact:
            return "exact";
        case SolverKind::fast:
            return "fast";
    }
    return "unknown";
}

std::optional<double> SolveResult::gap() const {
    if (!bound_usd) return std::nullopt;
    if (proven_optimal) return 0.0;
    return std::max(0.0, objective_usd - *bound_usd) / std::max(std::abs(objective_usd), 1e-9);
}

SolveResult solve_fast(const Problem& problem, const SolveOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    SolveResult result;
    result.solver = SolverKind::fast;
    result.plan.assignments.resize(problem.jobs().size());
    Occupancy occupancy(problem);
    const std::vector<double> flexibility = flexibility_of(problem);
    const std::vector<std::size_t> order = placement_order(problem, flexibility);
    for (std::size_t j : order) {
        Option option = detail::best_option(problem, problem.jobs()[j], occupancy);
        if (option.assignment.placed()) {
            result.plan.assignments[j] = std::move(option.assignment);
            occupancy.add(problem.jobs()[j], result.plan.assignments[j], +1);
        }
    }
    LocalSearch search(problem, result.plan, occupancy);
    // Eviction looks at every other job: on large queues it only tries to fit jobs left out.
    const bool small = problem.jobs().size() <= 3000;
    for (int round = 0; round < options.fast_rounds; ++round) {
        bool improved = false;
        for (std::size_t j : order) improved = search.reinsert(j) || improved;
        for (std::size_t j : order) {
            if (small || !result.plan.assignments[j].placed())
                improved = search.eject(j, flexibility) || improved;
        }
        if (!improved) break;
    }
    if (small && problem.jobs().size() > 1) ruin_and_recreate(problem, search, options);
    result.objective_usd = problem.objective(result.plan);
    result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

core::Result<SolveResult> solve(const Problem& problem, SolverKind kind, const SolveOptions& options) {
    switch (kind) {
        case SolverKind::exact:
            return solve_exact(problem, options);
        case SolverKind::fast:
            return solve_fast(problem, options);
    }
    return core::fail("unknown solver");
}

std::vector<UnplannedJob> capacity_failures(const Problem& problem, const Plan& plan) {
    std::vector<UnplannedJob> out;
    for (std::size_t j = 0; j < problem.jobs().size(); ++j) {
        if (plan.assignments[j].placed()) continue;
        const PlanJob& job = problem.jobs()[j];
        std::string sites;
        for (const SiteWindow& w : job.windows)
            sites += (sites.empty() ? "" : ", ") + problem.site_name(w.site);
        out.push_back({job.job, Unplannable::no_capacity,
                       fmt::format("job '{}': every window before its deadline at {} is taken by other jobs "
                                   "({} GPUs needed)",
                                   job.id, sites, job.gpus)});
    }
    return out;
}

}  // namespace joulepilot::sched
