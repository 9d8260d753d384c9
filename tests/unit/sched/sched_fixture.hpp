#pragma once
// Shared by the scheduler tests: paths, synthetic sites with hand-chosen hourly series, and random small
// instances for the solver comparisons.

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "sched/job.hpp"
#include "sched/site.hpp"

namespace joulepilot::sched::test {

// 2023-06-01T00:00Z: the first hour of every synthetic series.
inline constexpr double kJune1 = 1685577600;
inline constexpr double kHour = 3600;

inline std::filesystem::path fixtures_dir() {
    return std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "sched";
}

inline std::filesystem::path data_dir() {
    const char* env = std::getenv("JOULEPILOT_DATA_DIR");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                          : std::filesystem::path(JOULEPILOT_DATA_DIR);
}

// A site with constant PUE and price and the given hourly carbon intensity from kJune1.
inline Site make_site(std::string name, int gpus, std::vector<double> carbon, double pue = 1.0,
                      double price = 0.0, double gpu_hour_usd = 0.0) {
    Site site;
    site.name = std::move(name);
    site.gpu_capacity = gpus;
    site.gpu_hour_usd = gpu_hour_usd;
    site.carbon_g_per_kwh = twin::HourlySeries(kJune1, std::move(carbon));
    site.constant_pue = pue;
    site.constant_price_usd_per_kwh = price;
    return site;
}

inline Job make_job(std::string id, int gpus, double hours, double power_w, double earliest_h,
                    double deadline_h, std::vector<std::string> sites = {}) {
    Job job;
    job.id = std::move(id);
    job.gpus = gpus;
    job.duration = core::Seconds(hours * kHour);
    job.power = core::Watts(power_w);
    job.earliest_start_unix_s = kJune1 + earliest_h * kHour;
    job.deadline_unix_s = kJune1 + deadline_h * kHour;
    job.sites = std::move(sites);
    job.source = "test";
    return job;
}

struct Instance {
    SiteSet sites;
    std::vector<Job> jobs;
};

// A random small instance: `sites` sites over `slots` hours with random intensity, price, PUE and GPU
// cost, `jobs` jobs of 1-4 GPUs, fractional durations and a share of interruptible ones; capacity is
// tight enough that jobs compete for the cheap hours.
inline Instance random_instance(std::uint64_t seed, int jobs, int sites, int slots,
                                double interruptible_share = 0.3) {
    std::mt19937_64 random(seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    Instance inst;
    inst.sites.weights.carbon_price_usd_per_t = 100;
    inst.sites.weights.lateness_usd_per_h = 0.5;
    for (int s = 0; s < sites; ++s) {
        std::vector<double> carbon;
        const double base = 100 + 300 * unit(random);
        for (int t = 0; t < slots; ++t) carbon.push_back(base * (0.6 + 0.8 * unit(random)));
        inst.sites.sites.push_back(make_site("s" + std::to_string(s), 3 + static_cast<int>(4 * unit(random)),
                                             carbon, 1.1 + 0.3 * unit(random), 0.05 + 0.25 * unit(random),
                                             0.5 * unit(random)));
    }
    for (int j = 0; j < jobs; ++j) {
        const int gpus = 1 + static_cast<int>(3 * unit(random));
        const double hours = 0.5 + std::floor(8 * unit(random)) / 2;  // 0.5 .. 4 h
        const double earliest = std::floor((slots - 8) * unit(random));
        const double deadline =
            std::min<double>(slots, earliest + std::ceil(hours) + std::floor(8 * unit(random)));
        Job job = make_job("j" + std::to_string(j), gpus, hours, gpus * (300 + 400 * unit(random)), earliest,
                           deadline);
        if (unit(random) < 0.5) job.due_unix_s = kJune1 + (earliest + std::ceil(hours)) * kHour;
        if (unit(random) < interruptible_share) {
            job.interruptible = true;
            job.checkpoint_overhead = core::Seconds(600 * unit(random));
        }
        if (sites > 1 && unit(random) < 0.5) {
            job.sites = {"s" + std::to_string(static_cast<int>(sites * unit(random)) % sites)};
        }
        inst.jobs.push_back(std::move(job));
    }
    return inst;
}

}  // namespace joulepilot::sched::test
