#include "sched/problem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "twin/facility/civil_time.hpp"

namespace joulepilot::sched {

namespace {

// Slots of [first, end) of a series, relative to the plan's start (may be negative or past the horizon).
struct SlotRange {
    long long first = std::numeric_limits<long long>::min();
    long long end = std::numeric_limits<long long>::max();
    void intersect(const twin::HourlySeries& series, double start_unix_s) {
        const double first_slot = std::ceil((series.first_hour_unix_s() - start_unix_s) / kSlotSeconds);
        const double end_slot = std::floor(
            (series.first_hour_unix_s() + static_cast<double>(series.size()) * kSlotSeconds - start_unix_s) /
            kSlotSeconds);
        first = std::max(first, static_cast<long long>(first_slot));
        end = std::min(end, static_cast<long long>(end_slot));
    }
};

SlotRange covered_slots(const Site& site, double start_unix_s) {
    SlotRange range;
    range.intersect(site.carbon_g_per_kwh, start_unix_s);
    if (!site.constant_pue) range.intersect(site.outside_temp_c, start_unix_s);
    if (site.price_kind == Site::PriceKind::series)
        range.intersect(site.price_usd_per_kwh_series, start_unix_s);
    return range;
}

std::string utc(double unix_s) {
    return twin::format_naive_datetime(static_cast<std::int64_t>(std::floor(unix_s))) + "Z";
}

// Hours below this are rounding noise (a job of 2.0000000001 h needs 2 slots, not 3).
constexpr double kHourEpsilon = 1e-9;

}  // namespace

const char* to_string(Unplannable reason) {
    switch (reason) {
        case Unplannable::unknown_site:
            return "unknown_site";
        case Unplannable::no_window:
            return "no_window";
        case Unplannable::too_big:
            return "too_big";
        case Unplannable::no_data:
            return "no_data";
        case Unplannable::no_capacity:
            return "no_capacity";
    }
    return "unknown";
}

int Assignment::pieces() const {
    int pieces = 0;
    for (std::size_t i = 0; i < slots.size(); ++i) {
        if (i == 0 || slots[i].slot != slots[i - 1].slot + 1) ++pieces;
    }
    return pieces;
}

JobCost& JobCost::operator+=(const JobCost& other) {
    it_energy_j += other.it_energy_j;
    facility_energy_j += other.facility_energy_j;
    carbon_g += other.carbon_g;
    energy_usd += other.energy_usd;
    carbon_usd += other.carbon_usd;
    gpu_usd += other.gpu_usd;
    lateness_usd += other.lateness_usd;
    return *this;
}

core::Result<Problem> Problem::build(const std::vector<Job>& jobs, const SiteSet& sites,
                                     std::optional<double> from_unix_s) {
    if (sites.sites.empty()) return core::fail("schedule: no sites");
    if (!from_unix_s) {
        for (const Job& job : jobs) {
            if (job.earliest_start_unix_s) {
                from_unix_s =
                    std::min(from_unix_s.value_or(*job.earliest_start_unix_s), *job.earliest_start_unix_s);
            }
        }
        if (!from_unix_s)
            return core::fail("schedule: no job has an earliest_start; give the plan's start (--from)");
    }
    Problem p;
    p.m_weights = sites.weights;
    p.m_start_unix_s = std::ceil(*from_unix_s / kSlotSeconds) * kSlotSeconds;
    for (const Site& site : sites.sites) {
        p.m_site_names.push_back(site.name);
        p.m_capacity.push_back(site.gpu_capacity);
        p.m_gpu_hour_usd.push_back(site.gpu_hour_usd);
    }
    std::vector<SlotRange> coverage;
    for (const Site& site : sites.sites) coverage.push_back(covered_slots(site, p.m_start_unix_s));

    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const Job& job = jobs[i];
        auto unplanned = [&](Unplannable reason, const std::string& why) {
            p.m_unplanned.push_back({i, reason, fmt::format("job '{}' ({}): {}", job.id, job.source, why)});
        };
        std::vector<int> allowed;
        std::vector<std::string> unknown;
        if (job.sites.empty()) {
            for (int s = 0; s < p.sites(); ++s) allowed.push_back(s);
        } else {
            for (const std::string& name : job.sites) {
                const auto it = std::find(p.m_site_names.begin(), p.m_site_names.end(), name);
                if (it == p.m_site_names.end()) {
                    unknown.push_back(name);
                } else {
                    allowed.push_back(static_cast<int>(it - p.m_site_names.begin()));
                }
            }
        }
        if (!unknown.empty()) {
            unplanned(Unplannable::unknown_site,
                      fmt::format("unknown site {} (sites: {})", fmt::join(unknown, ", "),
                                  fmt::join(p.m_site_names, ", ")));
            continue;
        }

        PlanJob pj;
        pj.job = i;
        pj.id = job.id;
        pj.gpus = job.gpus;
        pj.power_kw = job.power.value() / 1000;
        pj.work_h = job.duration.value() / kSlotSeconds;
        pj.interruptible = job.interruptible;
        pj.overhead_h = job.checkpoint_overhead.value() / kSlotSeconds;
        pj.slots_needed = std::max(1, static_cast<int>(std::ceil(pj.work_h - kHourEpsilon)));
        pj.last_hours = pj.work_h - (pj.slots_needed - 1);
        const double earliest =
            std::max(job.earliest_start_unix_s.value_or(p.m_start_unix_s), p.m_start_unix_s);
        const double deadline = job.deadline_unix_s ? *job.deadline_unix_s
                                                    : job.earliest_start_unix_s.value_or(*from_unix_s) +
                                                          job.duration.value() + job.slack->value();
        if (job.due_unix_s) pj.due_h = (*job.due_unix_s - p.m_start_unix_s) / kSlotSeconds;
        pj.earliest_unix_s = earliest;
        pj.deadline_unix_s = deadline;
        const int first =
            static_cast<int>(std::ceil((earliest - p.m_start_unix_s) / kSlotSeconds - kHourEpsilon));
        const double end_slot = std::floor((deadline - p.m_start_unix_s) / kSlotSeconds + kHourEpsilon);
        if (end_slot - first < pj.slots_needed) {
            unplanned(
                Unplannable::no_window,
                fmt::format("needs {} whole hour slot(s) between {} and its deadline {}, which leave {} "
                            "(plan starts {})",
                            pj.slots_needed, utc(p.m_start_unix_s + first * kSlotSeconds), utc(deadline),
                            std::max(0.0, end_slot - first), utc(p.m_start_unix_s)));
            continue;
        }
        const int end = static_cast<int>(end_slot);
        std::vector<std::string> too_small;
        std::vector<std::string> no_data;
        for (const int s : allowed) {
            if (job.gpus > p.m_capacity[s]) {
                too_small.push_back(fmt::format("{} has {}", p.m_site_names[s], p.m_capacity[s]));
                continue;
            }
            const long long a = std::max<long long>(first, coverage[s].first);
            const long long b = std::min<long long>(end, coverage[s].end);
            if (b - a < pj.slots_needed) {
                no_data.push_back(p.m_site_names[s]);
                continue;
            }
            pj.windows.push_back({s, static_cast<int>(a), static_cast<int>(b)});
        }
        if (pj.windows.empty()) {
            if (no_data.empty()) {
                unplanned(Unplannable::too_big,
                          fmt::format("needs {} GPUs; {}", job.gpus, fmt::join(too_small, ", ")));
            } else {
                unplanned(
                    Unplannable::no_data,
                    fmt::format(
                        "no carbon/price/weather data for {} to {} at {}{}",
                        utc(p.m_start_unix_s + first * kSlotSeconds), utc(deadline), fmt::join(no_data, ", "),
                        too_small.empty() ? "" : fmt::format("; too small: {}", fmt::join(too_small, ", "))));
            }
            continue;
        }
        pj.run_now_site = pj.windows.front().site;
        for (const SiteWindow& w : pj.windows) p.m_slots = std::max(p.m_slots, w.end_slot);
        p.m_jobs.push_back(std::move(pj));
    }
    if (auto filled = p.fill_site_values(sites); !filled) return tl::unexpected(filled.error());
    return p;
}

core::Result<void> Problem::fill_site_values(const SiteSet& sites) {
    if (static_cast<int>(sites.sites.size()) != this->sites())
        return core::fail("schedule: site count changed");
    const std::size_t n = static_cast<std::size_t>(this->sites()) * static_cast<std::size_t>(m_slots);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    m_pue.assign(n, nan);
    m_carbon.assign(n, nan);
    m_price.assign(n, nan);
    m_usd_per_it_kwh.assign(n, nan);
    m_prefix_usd_per_it_kwh.assign(static_cast<std::size_t>(this->sites()) * (m_slots + 1), 0.0);
    const double carbon_price = m_weights.carbon_price_usd_per_g();
    for (int s = 0; s < this->sites(); ++s) {
        const Site& site = sites.sites[s];
        if (site.name != m_site_names[s]) return core::fail("schedule: site order changed");
        double running = 0;
        for (int t = 0; t < m_slots; ++t) {
            const double hour = slot_start_unix_s(t);
            double usd = 0;
            if (site.covers(hour)) {
                const std::size_t i = index(s, t);
                m_pue[i] = site.pue_at(hour);
                m_carbon[i] = site.carbon_at(hour);
                m_price[i] = site.price_at(hour);
                usd = m_usd_per_it_kwh[i] = m_pue[i] * (m_price[i] + m_carbon[i] * carbon_price);
            }
            running += usd;
            m_prefix_usd_per_it_kwh[static_cast<std::size_t>(s) * (m_slots + 1) + t + 1] = running;
        }
    }
    // Leaving a job out must cost more than any placement of every job, so that a solver never trades
    // one job's absence for others' savings: twice the sum of each job's dearest possible cost, plus one.
    double bound = 0;
    for (const PlanJob& job : m_jobs) {
        double dearest = 0;
        double max_hours = 0;  // a job never runs longer than its widest window
        for (const SiteWindow& w : job.windows) {
            max_hours = std::max(max_hours, static_cast<double>(w.end_slot - w.first_slot));
            for (int t = w.first_slot; t < w.end_slot; ++t) {
                if (std::isnan(m_usd_per_it_kwh[index(w.site, t)])) {
                    return core::fail(fmt::format("schedule: no data for site '{}' at {}",
                                                  m_site_names[w.site], utc(slot_start_unix_s(t))));
                }
                dearest = std::max(dearest, hourly_cost(job, w.site, t));
            }
        }
        double late = 0;
        if (job.due_h) late = m_weights.lateness_usd_per_h * std::max(0.0, m_slots - *job.due_h);
        bound += dearest * max_hours + late;
    }
    m_unplaced_penalty_usd = 1 + 2 * bound;
    return {};
}

core::Result<Problem> Problem::with_sites(const SiteSet& sites) const {
    Problem copy = *this;
    copy.m_weights = sites.weights;
    if (auto filled = copy.fill_site_values(sites); !filled) return tl::unexpected(filled.error());
    return copy;
}

double Problem::lateness_usd(const PlanJob& job, double finish) const {
    if (!job.due_h) return 0;
    return m_weights.lateness_usd_per_h * std::max(0.0, finish - *job.due_h);
}

double Problem::contiguous_cost(const PlanJob& job, int site, int start) const {
    const int last = start + job.slots_needed - 1;
    const std::size_t base = static_cast<std::size_t>(site) * (m_slots + 1);
    const double full = m_prefix_usd_per_it_kwh[base + last] - m_prefix_usd_per_it_kwh[base + start];
    const double energy = job.power_kw * (full + job.last_hours * m_usd_per_it_kwh[index(site, last)]);
    const double gpu = job.gpus * m_gpu_hour_usd[site] * job.work_h;
    const double finish = job.interruptible ? last + 1 : last + job.last_hours;
    return energy + gpu + lateness_usd(job, finish);
}

Assignment Problem::contiguous(const PlanJob& job, int site, int start) const {
    Assignment a;
    a.site = site;
    for (int k = 0; k < job.slots_needed; ++k) {
        a.slots.push_back({start + k, k + 1 == job.slots_needed ? job.last_hours : 1.0});
    }
    return a;
}

Assignment Problem::run_now(const PlanJob& job) const {
    const auto it = std::find_if(job.windows.begin(), job.windows.end(),
                                 [&](const SiteWindow& w) { return w.site == job.run_now_site; });
    return contiguous(job, job.run_now_site, it->first_slot);
}

double Problem::finish_h(const PlanJob& job, const Assignment& a) const {
    if (!a.placed()) return 0;
    const SlotUse& last = a.slots.back();
    return job.interruptible ? last.slot + 1 : last.slot + last.hours;
}

JobCost Problem::cost(const PlanJob& job, const Assignment& a) const {
    JobCost c;
    if (!a.placed()) return c;
    const double carbon_price = m_weights.carbon_price_usd_per_g();
    for (const SlotUse& use : a.slots) {
        const std::size_t i = index(a.site, use.slot);
        const double it_kwh = job.power_kw * use.hours;
        const double facility_kwh = it_kwh * m_pue[i];
        const double carbon_g = facility_kwh * m_carbon[i];
        c.it_energy_j += core::from_kwh(it_kwh).value();
        c.facility_energy_j += core::from_kwh(facility_kwh).value();
        c.carbon_g += carbon_g;
        c.energy_usd += facility_kwh * m_price[i];
        c.carbon_usd += carbon_g * carbon_price;
        c.gpu_usd += job.gpus * m_gpu_hour_usd[a.site] * use.hours;
    }
    c.lateness_usd = lateness_usd(job, finish_h(job, a));
    return c;
}

double Problem::objective(const Plan& plan) const {
    double total = 0;
    for (std::size_t j = 0; j < m_jobs.size(); ++j) {
        const Assignment& a = plan.assignments[j];
        total += a.placed() ? cost(m_jobs[j], a).total_usd() : m_unplaced_penalty_usd;
    }
    return total;
}

std::string Problem::check(const Plan& plan) const {
    if (plan.assignments.size() != m_jobs.size()) {
        return fmt::format("plan has {} assignments for {} jobs", plan.assignments.size(), m_jobs.size());
    }
    std::vector<int> used(static_cast<std::size_t>(sites()) * m_slots, 0);
    for (std::size_t j = 0; j < m_jobs.size(); ++j) {
        const PlanJob& job = m_jobs[j];
        const Assignment& a = plan.assignments[j];
        if (!a.placed()) continue;
        const auto window = std::find_if(job.windows.begin(), job.windows.end(),
                                         [&](const SiteWindow& w) { return w.site == a.site; });
        if (window == job.windows.end())
            return fmt::format("job '{}' placed at a site it may not use", job.id);
        double hours = 0;
        for (std::size_t k = 0; k < a.slots.size(); ++k) {
            const SlotUse& use = a.slots[k];
            if (use.slot < window->first_slot || use.slot >= window->end_slot) {
                return fmt::format("job '{}' uses slot {} outside its window [{}, {})", job.id, use.slot,
                                   window->first_slot, window->end_slot);
            }
            if (k > 0 && use.slot <= a.slots[k - 1].slot)
                return fmt::format("job '{}': slots not ascending", job.id);
            if (!(use.hours >= 0 && use.hours <= 1 + 1e-9)) {
                return fmt::format("job '{}': {} hours in one slot", job.id, use.hours);
            }
            hours += use.hours;
            used[index(a.site, use.slot)] += job.gpus;
        }
        if (!job.interruptible && a.pieces() != 1)
            return fmt::format("job '{}' is not interruptible but split", job.id);
        if (static_cast<double>(a.slots.size()) - hours > kMaxIdleHours + 1e-7) {
            return fmt::format("job '{}' holds {} slots for {} run hours (idle must stay below one hour)",
                               job.id, a.slots.size(), hours);
        }
        const double need = required_hours(job, a.pieces());
        if (hours + 1e-6 < need)
            return fmt::format("job '{}' runs {} h of the {} h it needs", job.id, hours, need);
    }
    for (int s = 0; s < sites(); ++s) {
        for (int t = 0; t < m_slots; ++t) {
            if (used[index(s, t)] > m_capacity[s]) {
                return fmt::format("site '{}' slot {}: {} GPUs used of {}", m_site_names[s], t,
                                   used[index(s, t)], m_capacity[s]);
            }
        }
    }
    return {};
}

}  // namespace joulepilot::sched
