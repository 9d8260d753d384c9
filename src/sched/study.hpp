#pragma once
// `schedule study`: the measurements quoted in docs/benchmarks.md, on the shipped 2023 data of the five
// zones. Seeded synthetic job queues (random_queue) over real grid series:
//  - carbon: carbon saved against run now for 6/12/24 h of slack, single-site (each job at its home
//    zone) and multi-site (any of the five), with and without interruption, next to the best-window
//    baseline on the same jobs. Carbon-only objective (price 0, PUE 1, no GPU cost), ample capacity:
//    the setting of "Let's Wait Awhile" (Wiesner et al., Middleware 2021).
//  - forecast: the same queues planned day by day (each day's jobs at 00:00 UTC) on a forecast and
//    scored on actuals: share of the perfect-information plan's savings.
//  - gap: exact against fast on random small queues with tight capacity and the full money
//    objective (tariffs, temperature PUE, GPU cost, carbon price): objectives, gaps and times.
// Single-threaded; each run is deterministic for a seed except for wall times.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.hpp"
#include "sched/evaluation.hpp"
#include "sched/job.hpp"
#include "sched/problem.hpp"
#include "sched/site.hpp"

namespace joulepilot::sched {

struct QueueSpec {
    int jobs = 100;
    double start_unix_s = 1672531200;  // 2023-01-01T00:00Z
    double span_h = 24 * 364;          // earliest starts fall in [start, start + span)
    double min_hours = 1;
    double max_hours = 8;
    double slack_h = 12;
    int max_gpus = 8;
    double gpu_power_w = 700;
    bool interruptible = false;
    double checkpoint_overhead_s = 300;
    bool multi_site = false;              // allowed: home first, then every other site
    std::vector<std::string> site_names;  // homes are drawn from these
    std::uint64_t seed = 1;
};
std::vector<Job> random_queue(const QueueSpec& spec);

// The five shipped zones as sites. carbon_only: PUE 1, price 0, no GPU cost, carbon at 100 $/t.
// Otherwise: temperature PUE, each zone's local time-of-use tariff, GPU cost, carbon at 100 $/t.
core::Result<SiteSet> zone_sites(const std::filesystem::path& data_dir, int gpus_per_site, bool carbon_only);

struct CarbonRow {
    double slack_h = 0;
    bool multi_site = false;
    bool interruptible = false;
    EvaluationResult result;  // perfect information
};

struct ForecastRow {
    std::string forecast;
    bool multi_site = false;
    EvaluationResult result;
};

struct GapRow {
    int jobs = 0;
    int sites = 0;
    int slots = 0;
    std::uint64_t seed = 0;
    double exact_usd = 0;
    double exact_s = 0;
    double exact_cpu_s = 0;  // CPU time of this thread (the machine is shared: wall time is noisy)
    bool exact_optimal = false;
    double exact_gap = 0;  // CBC's own gap at the end
    double fast_usd = 0;
    double fast_s = 0;
    double fast_cpu_s = 0;
};

// One instance of the gap part: `jobs` jobs on three zones (US-CAL-CISO, DE-LU, GB) over 48 hourly slots of a
// random week of 2023, capacity about half the GPU-hours asked; instance `k` of that size for `study_seed`
// (the rows of `schedule study --parts gap`). `seed` is the instance's own (fast's seed).
struct GapInstance {
    Problem problem;
    std::uint64_t seed = 0;
};
core::Result<GapInstance> gap_instance(const std::filesystem::path& data_dir, int jobs, int k,
                                       std::uint64_t study_seed);

struct StudyOptions {
    int jobs = 2000;  // per carbon mix
    std::uint64_t seed = 1;
    double exact_time_limit_s = 60;
    std::vector<int> gap_sizes = {10, 20, 40, 80};
    int gap_seeds = 3;
    bool carbon = true;
    bool forecast = true;
    bool gap = true;
};

struct StudyResult {
    std::vector<CarbonRow> carbon;
    std::vector<ForecastRow> forecast;
    std::vector<GapRow> gap;
};

core::Result<StudyResult> run_study(const std::filesystem::path& data_dir, const StudyOptions& options);
std::string study_text(const StudyResult& result);
nlohmann::json study_json(const StudyResult& result);

}  // namespace joulepilot::sched
