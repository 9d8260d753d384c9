#pragma once
// The scheduling problem on hourly slots, and its money objective (DESIGN.md section 4).
//
// Time is cut into one-hour slots from the plan's start (--from, rounded up to the hour). A job occupies
// whole slots at one site: its GPUs are reserved for every slot it touches, all inside
// [earliest start, deadline] (earliest rounded up, deadline down, to the hour). Within an occupied slot the
// job runs for `hours` in [0, 1]; the hours it holds GPUs without running add up to less than one hour
// (it occupies ceil(run hours) slots), so only the rounding is idle: a job cannot dodge the checkpoint
// overhead by holding its GPUs through a dirty hour. An interruptible job may run in several pieces
// (runs of consecutive occupied slots); every piece after the first adds the job's checkpoint overhead
// to the run time it needs.
//
// Objective of one job at site s, in $ (all terms additive, so the plan's objective is their sum):
//   sum over its slots t of  hours_t x [ P x PUE(s,t) x (price(s,t) + CI(s,t) x carbon price)
//                                        + GPUs x GPU-hour cost(s) ]
//   + lateness price x max(0, finish - due) in hours
// with P the job's IT power in kW, CI in g/kWh, the carbon price in $/g. Re-run energy of an interruptible
// job is in the hours it runs (checkpoint overhead per resumption). Energy at the meter is IT energy x PUE.
//
// Jobs that cannot be planned (unknown site, no window before the deadline, too big for every site, no
// data for their window) are listed in unplanned() with the reason; the rest are the problem's jobs().
// Thread-safe: const after build().

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sched/job.hpp"
#include "sched/site.hpp"

namespace joulepilot::sched {

inline constexpr double kSlotSeconds = 3600;
// Reserved-but-idle hours of one job must stay below this (see above); the margin absorbs the solvers'
// floating-point tolerances.
inline constexpr double kMaxIdleHours = 1.0 - 1e-6;

enum class Unplannable {
    unknown_site,  // the job names a site the sites file does not have
    no_window,     // its deadline cannot be met anywhere (or lies before the plan's start)
    too_big,       // it needs more GPUs than any allowed site has
    no_data,       // no allowed site has carbon/price/weather data for its window
    no_capacity,   // every feasible window is taken by other jobs (found by a solver)
};
const char* to_string(Unplannable reason);

struct UnplannedJob {
    std::size_t job = 0;  // index into the job list given to build()
    Unplannable reason = Unplannable::no_window;
    std::string message;  // names the job and why
};

// Where and when a job can run at one site: slots [first_slot, end_slot).
struct SiteWindow {
    int site = 0;
    int first_slot = 0;
    int end_slot = 0;
};

// A job as the solvers see it.
struct PlanJob {
    std::size_t job = 0;  // index into the job list given to build()
    std::string id;
    int gpus = 1;
    double power_kw = 0;
    double work_h = 0;  // run hours needed without checkpoint overhead
    bool interruptible = false;
    double overhead_h = 0;            // extra run hours per resumption
    std::optional<double> due_h;      // soft due time, hours after the plan's start
    // The job's window as given (not rounded to slots), Unix seconds: its earliest start (the plan's start
    // when it has none or an earlier one) and its hard deadline. Written into the plan for the controller.
    double earliest_unix_s = 0;
    double deadline_unix_s = 0;
    std::vector<SiteWindow> windows;  // allowed sites that can hold it, in the job's order of preference
    int run_now_site = 0;             // the job's first allowed site that can hold it
    int slots_needed = 1;             // ceil(work_h): slots of a contiguous run
    double last_hours = 1;            // hours used in the last slot of a contiguous run, in (0, 1]
};

struct SlotUse {
    int slot = 0;
    double hours = 1;  // run hours in the slot, in [0, 1]
    friend bool operator==(const SlotUse&, const SlotUse&) = default;
};

// One job's placement; an empty `slots` means "not placed".
struct Assignment {
    int site = -1;
    std::vector<SlotUse> slots;  // ascending slot order
    [[nodiscard]] bool placed() const { return site >= 0 && !slots.empty(); }
    [[nodiscard]] int pieces() const;
};

// Indexed like Problem::jobs().
struct Plan {
    std::vector<Assignment> assignments;
};

struct JobCost {
    double it_energy_j = 0;
    double facility_energy_j = 0;  // at the meter: IT x PUE
    double carbon_g = 0;
    double energy_usd = 0;
    double carbon_usd = 0;  // carbon x carbon price
    double gpu_usd = 0;
    double lateness_usd = 0;
    [[nodiscard]] double total_usd() const { return energy_usd + carbon_usd + gpu_usd + lateness_usd; }
    JobCost& operator+=(const JobCost& other);
};

class Problem {
public:
    // Fails only when nothing can be planned at all (no sites, no --from and no job earliest start);
    // per-job problems go to unplanned(). `from_unix_s` unset: the earliest start of any job.
    static core::Result<Problem> build(const std::vector<Job>& jobs, const SiteSet& sites,
                                       std::optional<double> from_unix_s);

    [[nodiscard]] const std::vector<PlanJob>& jobs() const { return m_jobs; }
    [[nodiscard]] const std::vector<UnplannedJob>& unplanned() const { return m_unplanned; }
    [[nodiscard]] int slots() const { return m_slots; }
    [[nodiscard]] int sites() const { return static_cast<int>(m_site_names.size()); }
    [[nodiscard]] const std::string& site_name(int site) const { return m_site_names[site]; }
    [[nodiscard]] int capacity(int site) const { return m_capacity[site]; }
    [[nodiscard]] double start_unix_s() const { return m_start_unix_s; }
    [[nodiscard]] double slot_start_unix_s(int slot) const { return m_start_unix_s + slot * kSlotSeconds; }
    [[nodiscard]] const ObjectiveWeights& weights() const { return m_weights; }

    // Per (site, slot): PUE, grid intensity g/kWh, price $/kWh, and the $ per IT kWh they add up to.
    [[nodiscard]] double pue(int site, int slot) const { return m_pue[index(site, slot)]; }
    [[nodiscard]] double carbon_g_per_kwh(int site, int slot) const { return m_carbon[index(site, slot)]; }
    [[nodiscard]] double price_usd_per_kwh(int site, int slot) const { return m_price[index(site, slot)]; }
    [[nodiscard]] double usd_per_it_kwh(int site, int slot) const {
        return m_usd_per_it_kwh[index(site, slot)];
    }
    [[nodiscard]] double gpu_hour_usd(int site) const { return m_gpu_hour_usd[site]; }

    // $ for one hour of the job running in a slot (without lateness).
    [[nodiscard]] double hourly_cost(const PlanJob& job, int site, int slot) const {
        return job.power_kw * usd_per_it_kwh(site, slot) + job.gpus * m_gpu_hour_usd[site];
    }
    // $ of a contiguous run from `start` at `site` including lateness, in O(1) (prefix sums).
    [[nodiscard]] double contiguous_cost(const PlanJob& job, int site, int start) const;
    [[nodiscard]] double lateness_usd(const PlanJob& job, double finish_h) const;
    [[nodiscard]] Assignment contiguous(const PlanJob& job, int site, int start) const;
    // Run now: contiguous from the earliest slot at the job's run-now site (capacity not considered).
    [[nodiscard]] Assignment run_now(const PlanJob& job) const;
    // Finish time in hours after the plan's start (see the objective above).
    [[nodiscard]] double finish_h(const PlanJob& job, const Assignment& a) const;

    [[nodiscard]] JobCost cost(const PlanJob& job, const Assignment& a) const;
    // Sum of every placed job's total_usd(); unplaced jobs cost `unplaced_penalty_usd()` each.
    [[nodiscard]] double objective(const Plan& plan) const;
    // A price for leaving a job out, far above any placement, so every solver places all it can.
    [[nodiscard]] double unplaced_penalty_usd() const { return m_unplaced_penalty_usd; }

    // Checks a plan against capacity, windows and run time; an empty string when valid.
    [[nodiscard]] std::string check(const Plan& plan) const;
    // Hours of run time an assignment needs: work plus overhead for each resumption.
    [[nodiscard]] static double required_hours(const PlanJob& job, int pieces) {
        return job.work_h + job.overhead_h * std::max(0, pieces - 1);
    }

    // Same jobs and slots with other site data (forecasts): only per-slot values change.
    [[nodiscard]] core::Result<Problem> with_sites(const SiteSet& sites) const;

private:
    [[nodiscard]] std::size_t index(int site, int slot) const {
        return static_cast<std::size_t>(site) * static_cast<std::size_t>(m_slots) +
               static_cast<std::size_t>(slot);
    }
    core::Result<void> fill_site_values(const SiteSet& sites);

    std::vector<PlanJob> m_jobs;
    std::vector<UnplannedJob> m_unplanned;
    std::vector<std::string> m_site_names;
    std::vector<int> m_capacity;
    std::vector<double> m_gpu_hour_usd;
    ObjectiveWeights m_weights;
    double m_start_unix_s = 0;
    int m_slots = 0;
    std::vector<double> m_pue, m_carbon, m_price, m_usd_per_it_kwh;
    std::vector<double> m_prefix_usd_per_it_kwh;  // per site: (slots + 1) running sums
    double m_unplaced_penalty_usd = 0;
};

}  // namespace joulepilot::sched
