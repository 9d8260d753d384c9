#pragma once
// Flexible jobs: what the scheduler may move in time and between sites.
//
// A job is given by two of (duration, energy, average power); the third follows. Power is the average IT
// power of the whole job (all its GPUs and their share of the host), in W. Times are Unix seconds (UTC).
// Readers accept JSON and YAML (a list, or {"jobs": [...]}; same fields) and CSV (one job per row, a header
// naming the columns); every error names the file, the line (CSV, YAML syntax) or the job's index and id
// (JSON, YAML), and the field.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"

namespace joulepilot::sched {

struct Job {
    std::string id;
    int gpus = 1;
    core::Seconds duration{0};  // run time at `power`, without checkpoint overhead
    core::Watts power{0};       // average IT power of the whole job
    // Unset earliest start means "as soon as the plan starts" (--from).
    std::optional<double> earliest_start_unix_s;
    // Hard deadline: the job must have finished by then. Given directly, or as slack after the earliest
    // finish (deadline = earliest start + duration + slack), exactly one of the two.
    std::optional<double> deadline_unix_s;
    std::optional<core::Seconds> slack;
    // Soft target: finishing after it costs the objective's lateness price per hour late.
    std::optional<double> due_unix_s;
    // An interruptible job may run in pieces; each resumption costs `checkpoint_overhead` of extra run
    // time at the job's power (checkpoint save and restore, plus the expected work lost and re-run).
    bool interruptible = false;
    core::Seconds checkpoint_overhead{0};
    // Allowed sites, in order of preference; the first is where "run now" would run it. Empty: every
    // site of the sites file, in its order.
    std::vector<std::string> sites;
    // Where the job was read from, for messages: "jobs.csv:7" or "jobs.json: jobs[6]".
    std::string source;

    [[nodiscard]] core::Joules energy() const { return power * duration; }
};

// By extension: .json, .yaml/.yml or .csv (case-insensitive). Fails on the first bad job with file, line
// and field.
core::Result<std::vector<Job>> read_jobs(const std::filesystem::path& path);
core::Result<std::vector<Job>> parse_jobs_json(std::string_view text, const std::string& source_name);
core::Result<std::vector<Job>> parse_jobs_yaml(std::string_view text, const std::string& source_name);
core::Result<std::vector<Job>> read_jobs_csv(const std::filesystem::path& path);

}  // namespace joulepilot::sched
