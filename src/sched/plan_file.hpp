#pragma once
// What `joulepilot schedule run` needs from a plan written by `joulepilot schedule plan --json FILE`
// (report.cpp): per job its id, site, pieces (start, end, run hours), its earliest start and its deadline.
// Plans written before the plan carried the job's window have neither: the controller then takes the end
// of the last planned slot as the deadline (missing_deadline_warning says so). Read by the
// KubeController; PlanFileWatcher re-reads the file when its mtime changes.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace joulepilot::sched {

struct PlannedPiece {
    double start_unix_s = 0;
    double end_unix_s = 0;  // end of the last slot the piece occupies
    double run_hours = 0;
};

struct PlannedJob {
    std::string id;
    std::string site;
    std::vector<PlannedPiece> pieces;  // in time order, at least one
    double finish_unix_s = 0;
    std::optional<double> earliest_start_unix_s;  // "earliest_start" of the job entry, when present
    std::optional<double> deadline_unix_s;        // "deadline" of the job entry, when present

    [[nodiscard]] double start_unix_s() const { return pieces.front().start_unix_s; }
};

core::Result<std::vector<PlannedJob>> parse_plan_json(std::string_view text, const std::string& source);
core::Result<std::vector<PlannedJob>> read_plan(const std::filesystem::path& path);

// For a plan some of whose jobs carry no deadline (an older plan file): the warning to print, naming the
// file, how many jobs, what the controller does instead and how to fix it; nullopt when all carry one.
std::optional<std::string> missing_deadline_warning(const std::vector<PlannedJob>& plan, const std::string& source);

// Remembers the plan file's modification time; poll() re-reads the file when it changed. A plan that fails
// to read is an error and the previous plan stays in force (a half-written file must not drop jobs).
class PlanFileWatcher {
public:
    explicit PlanFileWatcher(std::filesystem::path path) : m_path(std::move(path)) {}
    // The new plan when the file changed since the last successful read (always on the first call),
    // nullopt when it did not.
    core::Result<std::optional<std::vector<PlannedJob>>> poll();
    [[nodiscard]] const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
    std::optional<std::filesystem::file_time_type> m_mtime;
    std::uintmax_t m_size = 0;
};

}  // namespace joulepilot::sched
