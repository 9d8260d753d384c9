#include "sched/study.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sched/problem.hpp"
#include "sched/solver.hpp"

namespace joulepilot::sched {

namespace {

using nlohmann::json;

constexpr double kHour = 3600;
constexpr double kYearStart = 1672531200;  // 2023-01-01T00:00Z

struct ZoneCosts {
    const char* zone;
    double gpu_hour_usd;  // illustrative cloud-style prices, differing a little by region
};
constexpr ZoneCosts kZones[] = {
    {"US-CAL-CISO", 2.2}, {"US-TEX-ERCO", 1.8}, {"US-MIDA-PJM", 2.0}, {"DE-LU", 2.4}, {"GB", 2.3}};

std::string pct(double fraction) { return fmt::format("{:.1f}%", 100 * fraction); }

// CPU seconds of the calling thread: the solvers are single-threaded, and on a shared machine their wall
// time says more about the other tenants than about them.
double thread_cpu_s() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

std::vector<Job> random_queue(const QueueSpec& spec) {
    std::mt19937_64 random(spec.seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<Job> jobs;
    jobs.reserve(static_cast<std::size_t>(spec.jobs));
    for (int i = 0; i < spec.jobs; ++i) {
        Job job;
        job.id = fmt::format("job-{}", i);
        job.source = "random queue";
        job.gpus = 1 + static_cast<int>(std::floor(spec.max_gpus * unit(random)));
        // Quarter hours between min and max.
        const double hours =
            spec.min_hours + std::round((spec.max_hours - spec.min_hours) * unit(random) * 4) / 4;
        job.duration = core::Seconds(hours * kHour);
        job.power = core::Watts(spec.gpu_power_w * job.gpus);
        const double earliest = spec.start_unix_s + std::floor(spec.span_h * unit(random)) * kHour;
        job.earliest_start_unix_s = earliest;
        job.deadline_unix_s = earliest + std::ceil(hours) * kHour + spec.slack_h * kHour;
        job.interruptible = spec.interruptible;
        if (spec.interruptible) job.checkpoint_overhead = core::Seconds(spec.checkpoint_overhead_s);
        if (!spec.site_names.empty()) {
            const std::size_t home =
                static_cast<std::size_t>(std::floor(spec.site_names.size() * unit(random))) %
                spec.site_names.size();
            job.sites.push_back(spec.site_names[home]);
            if (spec.multi_site) {
                for (std::size_t s = 0; s < spec.site_names.size(); ++s) {
                    if (s != home) job.sites.push_back(spec.site_names[s]);
                }
            }
        }
        jobs.push_back(std::move(job));
    }
    std::sort(jobs.begin(), jobs.end(),
              [](const Job& a, const Job& b) { return *a.earliest_start_unix_s < *b.earliest_start_unix_s; });
    return jobs;
}

core::Result<SiteSet> zone_sites(const std::filesystem::path& data_dir, int gpus_per_site, bool carbon_only) {
    json doc;
    doc["objective"] = {{"carbon_price_usd_per_t", 100}, {"lateness_usd_per_h", carbon_only ? 0.0 : 1.0}};
    doc["sites"] = json::array();
    for (const ZoneCosts& z : kZones) {
        json site = {{"name", z.zone}, {"zone", z.zone}, {"gpus", gpus_per_site}};
        if (carbon_only) {
            site["pue"] = 1.0;
            site["price_usd_per_kwh"] = 0.0;
        } else {
            site["pue"] = {{"model", "temperature"}, {"it_load_fraction", 0.8}};
            site["tariff"] = json::object();  // the default time-of-use tariff, in the zone's local time
            site["gpu_hour_usd"] = z.gpu_hour_usd;
        }
        doc["sites"].push_back(site);
    }
    return parse_sites(doc.dump(), false, "zone sites", data_dir, data_dir);
}

namespace {

core::Result<std::vector<CarbonRow>> carbon_study(const SiteSet& sites, const StudyOptions& options) {
    std::vector<std::string> names;
    for (const Site& s : sites.sites) names.push_back(s.name);
    std::vector<CarbonRow> rows;
    ForecastOptions perfect;
    perfect.kind = ForecastKind::perfect;
    for (const double slack : {6.0, 12.0, 24.0}) {
        for (const bool multi : {false, true}) {
            for (const bool interruptible : {false, true}) {
                QueueSpec spec;
                spec.jobs = options.jobs;
                spec.slack_h = slack;
                spec.multi_site = multi;
                spec.interruptible = interruptible;
                spec.site_names = names;
                spec.seed = options.seed;  // the same jobs in every row of a slack
                auto result = evaluate(random_queue(spec), sites, kYearStart, perfect, SolverKind::fast, {},
                                       multi ? WindowScope::allowed_sites : WindowScope::first_site);
                if (!result) return tl::unexpected(result.error());
                rows.push_back({slack, multi, interruptible, *result});
            }
        }
    }
    return rows;
}

core::Result<std::vector<ForecastRow>> forecast_study(const SiteSet& sites, const StudyOptions& options) {
    std::vector<std::string> names;
    for (const Site& s : sites.sites) names.push_back(s.name);
    std::vector<ForecastRow> rows;
    for (const bool multi : {false, true}) {
        QueueSpec spec;
        spec.jobs = options.jobs;
        spec.slack_h = 12;
        spec.multi_site = multi;
        spec.site_names = names;
        spec.seed = options.seed;
        const std::vector<Job> queue = random_queue(spec);
        for (const char* name : {"persistence", "naive", "day-ahead"}) {
            ForecastOptions forecast;
            forecast.kind = parse_forecast(name).value();
            forecast.seed = options.seed;
            EvaluationResult total;
            // Day by day: the jobs that become ready on a day are planned at its midnight, on the forecast
            // issued then.
            std::size_t begin = 0;
            while (begin < queue.size()) {
                const double day = std::floor(*queue[begin].earliest_start_unix_s / 86400) * 86400;
                std::size_t end = begin;
                while (end < queue.size() && *queue[end].earliest_start_unix_s < day + 86400) ++end;
                const std::vector<Job> batch(queue.begin() + static_cast<std::ptrdiff_t>(begin),
                                             queue.begin() + static_cast<std::ptrdiff_t>(end));
                auto result = evaluate(batch, sites, day, forecast, SolverKind::fast, {},
                                       multi ? WindowScope::allowed_sites : WindowScope::first_site);
                if (!result) return tl::unexpected(result.error());
                total += *result;
                begin = end;
            }
            rows.push_back({name, multi, total});
        }
    }
    return rows;
}

core::Result<std::vector<GapRow>> gap_study(const std::filesystem::path& data_dir,
                                            const StudyOptions& options) {
    std::vector<GapRow> rows;
    for (const int jobs : options.gap_sizes) {
        for (int k = 0; k < options.gap_seeds; ++k) {
            auto instance = gap_instance(data_dir, jobs, k, options.seed);
            if (!instance) return tl::unexpected(instance.error());
            const Problem& problem = instance->problem;
            SolveOptions solve_options;
            solve_options.time_limit_s = options.exact_time_limit_s;
            solve_options.seed = instance->seed;
            const double cpu0 = thread_cpu_s();
            auto exact = solve_exact(problem, solve_options);
            if (!exact) return tl::unexpected(exact.error());
            const double cpu1 = thread_cpu_s();
            const SolveResult fast = solve_fast(problem, solve_options);
            const double cpu2 = thread_cpu_s();
            GapRow row;
            row.jobs = static_cast<int>(problem.jobs().size());
            row.sites = problem.sites();
            row.slots = problem.slots();
            row.seed = instance->seed;
            row.exact_usd = exact->objective_usd;
            row.exact_s = exact->wall_s;
            row.exact_cpu_s = cpu1 - cpu0;
            row.exact_optimal = exact->proven_optimal;
            row.exact_gap = exact->gap().value_or(0);
            row.fast_usd = fast.objective_usd;
            row.fast_s = fast.wall_s;
            row.fast_cpu_s = cpu2 - cpu1;
            rows.push_back(row);
        }
    }
    return rows;
}

}  // namespace

core::Result<GapInstance> gap_instance(const std::filesystem::path& data_dir, int jobs, int k,
                                       std::uint64_t study_seed) {
    const std::uint64_t seed = study_seed * 7919 + static_cast<std::uint64_t>(jobs * 31 + k);
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Three zones, two days from a random week of 2023; capacity about half the GPU-hours asked.
    const int slots = 48;
    const int capacity = std::max(4, static_cast<int>(std::ceil(jobs * 8.0 / (3 * slots * 0.5))));
    auto all = zone_sites(data_dir, capacity, false);
    if (!all) return tl::unexpected(all.error());
    SiteSet sites;
    sites.weights = all->weights;
    for (const Site& s : all->sites) {
        if (s.name == "US-CAL-CISO" || s.name == "DE-LU" || s.name == "GB") sites.sites.push_back(s);
    }
    const double start = kYearStart + std::floor(360 * unit(random)) * 86400;
    std::vector<Job> queue;
    for (int j = 0; j < jobs; ++j) {
        Job job;
        job.id = fmt::format("j{}", j);
        job.source = "gap study";
        job.gpus = 1 + static_cast<int>(4 * unit(random));
        const double hours = 0.5 + std::floor(11 * unit(random)) / 2;  // 0.5 .. 5.5 h
        job.duration = core::Seconds(hours * kHour);
        job.power = core::Watts(job.gpus * (400 + 300 * unit(random)));
        const double earliest = start + std::floor(36 * unit(random)) * kHour;
        job.earliest_start_unix_s = earliest;
        job.deadline_unix_s =
            std::min(start + slots * kHour,
                     earliest + (std::ceil(hours) + std::floor(17 * unit(random))) * kHour);
        if (*job.deadline_unix_s - earliest < std::ceil(hours) * kHour) {
            job.deadline_unix_s = earliest + std::ceil(hours) * kHour;
        }
        if (unit(random) < 0.5) job.due_unix_s = earliest + std::ceil(hours) * kHour;
        if (unit(random) < 0.3) {
            job.interruptible = true;
            job.checkpoint_overhead = core::Seconds(600 * unit(random));
        }
        if (unit(random) < 0.5)
            job.sites = {sites.sites[static_cast<std::size_t>(3 * unit(random)) % 3].name};
        queue.push_back(std::move(job));
    }
    auto problem = Problem::build(queue, sites, start);
    if (!problem) return tl::unexpected(problem.error());
    return GapInstance{std::move(*problem), seed};
}

core::Result<StudyResult> run_study(const std::filesystem::path& data_dir, const StudyOptions& options) {
    StudyResult result;
    auto sites = zone_sites(data_dir, 1'000'000, true);
    if (!sites) return tl::unexpected(sites.error());
    if (options.carbon) {
        auto rows = carbon_study(*sites, options);
        if (!rows) return tl::unexpected(rows.error());
        result.carbon = std::move(*rows);
    }
    if (options.forecast) {
        auto rows = forecast_study(*sites, options);
        if (!rows) return tl::unexpected(rows.error());
        result.forecast = std::move(*rows);
    }
    if (options.gap) {
        auto rows = gap_study(data_dir, options);
        if (!rows) return tl::unexpected(rows.error());
        result.gap = std::move(*rows);
    }
    return result;
}

std::string study_text(const StudyResult& r) {
    std::string out;
    if (!r.carbon.empty()) {
        out += "carbon saved against run now (perfect information, ample capacity, carbon-only objective)\n";
        out += fmt::format("{:>6} {:<7} {:<14} {:>6} {:>10} {:>12} {:>10}\n", "slack", "sites",
                           "interruptible", "jobs", "plan", "best window", "plan s");
        for (const CarbonRow& c : r.carbon) {
            out += fmt::format(
                "{:>5}h {:<7} {:<14} {:>6} {:>10} {:>12} {:>10.3f}\n", c.slack_h,
                c.multi_site ? "multi" : "single", c.interruptible ? "yes" : "no", c.result.jobs_compared,
                pct(c.result.carbon_saved_fraction(c.result.perfect_plan)),
                pct(c.result.carbon_saved_fraction(c.result.best_window)), c.result.perfect_plan.wall_s);
        }
    }
    if (!r.forecast.empty()) {
        out += "\nplanned day by day on a forecast, scored on actuals (12 h slack, not interruptible)\n";
        out += fmt::format("{:<12} {:<7} {:>10} {:>10} {:>12} {:>16}\n", "forecast", "sites", "plan",
                           "perfect", "best window", "share of perfect");
        for (const ForecastRow& f : r.forecast) {
            out += fmt::format("{:<12} {:<7} {:>10} {:>10} {:>12} {:>16}\n", f.forecast,
                               f.multi_site ? "multi" : "single",
                               pct(f.result.carbon_saved_fraction(f.result.forecast_plan)),
                               pct(f.result.carbon_saved_fraction(f.result.perfect_plan)),
                               pct(f.result.carbon_saved_fraction(f.result.best_window)),
                               pct(f.result.share_of_perfect_carbon_savings()));
        }
    }
    if (!r.gap.empty()) {
        out += "\nexact (CBC) against fast: full money objective, tight capacity\n";
        out +=
            fmt::format("{:>5} {:>5} {:>5} {:>12} {:>8} {:>10} {:>8} {:>9} {:>9} {:>10}\n", "jobs", "sites",
                        "slots", "exact $", "exact s", "exact cpu", "optimal", "fast gap", "fast s", "fast cpu");
        for (const GapRow& g : r.gap) {
            out += fmt::format(
                "{:>5} {:>5} {:>5} {:>12.2f} {:>8.2f} {:>10.2f} {:>8} {:>8.3f}% {:>9.4f} {:>10.4f}\n", g.jobs,
                g.sites, g.slots, g.exact_usd, g.exact_s, g.exact_cpu_s, g.exact_optimal ? "yes" : "no",
                100 * (g.fast_usd - g.exact_usd) / g.exact_usd, g.fast_s, g.fast_cpu_s);
        }
    }
    return out;
}

json study_json(const StudyResult& r) {
    json out;
    out["carbon"] = json::array();
    for (const CarbonRow& c : r.carbon) {
        out["carbon"].push_back(
            {{"slack_h", c.slack_h},
             {"multi_site", c.multi_site},
             {"interruptible", c.interruptible},
             {"jobs", c.result.jobs_compared},
             {"run_now_carbon_kg", c.result.run_now.cost.carbon_g / 1000},
             {"plan_saved_fraction", c.result.carbon_saved_fraction(c.result.perfect_plan)},
             {"best_window_saved_fraction", c.result.carbon_saved_fraction(c.result.best_window)},
             {"plan_wall_s", c.result.perfect_plan.wall_s}});
    }
    out["forecast"] = json::array();
    for (const ForecastRow& f : r.forecast) {
        out["forecast"].push_back(
            {{"forecast", f.forecast},
             {"multi_site", f.multi_site},
             {"plan_saved_fraction", f.result.carbon_saved_fraction(f.result.forecast_plan)},
             {"perfect_saved_fraction", f.result.carbon_saved_fraction(f.result.perfect_plan)},
             {"best_window_saved_fraction", f.result.carbon_saved_fraction(f.result.best_window)},
             {"share_of_perfect_savings", f.result.share_of_perfect_carbon_savings()},
             {"regret_usd", f.result.regret_usd()}});
    }
    out["gap"] = json::array();
    for (const GapRow& g : r.gap) {
        out["gap"].push_back({{"jobs", g.jobs},
                              {"sites", g.sites},
                              {"slots", g.slots},
                              {"seed", g.seed},
                              {"exact_usd", g.exact_usd},
                              {"exact_s", g.exact_s},
                              {"exact_optimal", g.exact_optimal},
                              {"exact_gap", g.exact_gap},
                              {"fast_usd", g.fast_usd},
                              {"fast_s", g.fast_s},
                              {"fast_cpu_s", g.fast_cpu_s},
                              {"exact_cpu_s", g.exact_cpu_s}});
    }
    return out;
}

}  // namespace joulepilot::sched
