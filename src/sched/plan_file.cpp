#include "sched/plan_file.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/civil_time.hpp"

namespace joulepilot::sched {
namespace {

using nlohmann::json;

core::Result<double> time_of(const json& object, const char* key, const std::string& where) {
    const auto it = object.find(key);
    if (it == object.end()) return core::fail(fmt::format("{}: no \"{}\"", where, key));
    if (it->is_number()) return it->get<double>();
    if (!it->is_string()) return core::fail(fmt::format("{}: \"{}\" is not a UTC time", where, key));
    auto parsed = core::parse_utc_timestamp(it->get<std::string>());
    if (!parsed) return core::fail(fmt::format("{}: \"{}\": {}", where, key, parsed.error().message));
    return *parsed;
}

}  // namespace

core::Result<std::vector<PlannedJob>> parse_plan_json(std::string_view text, const std::string& source) {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
        return core::fail(fmt::format("{}: not a JSON object (write it with `joulepilot schedule plan --json`)", source));
    const auto jobs = doc.find("jobs");
    if (jobs == doc.end() || !jobs->is_array())
        return core::fail(fmt::format("{}: no \"jobs\" list; is it a plan from `joulepilot schedule plan --json`?", source));
    std::vector<PlannedJob> out;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < jobs->size(); ++i) {
        const json& entry = (*jobs)[i];
        std::string where = fmt::format("{}: jobs[{}]", source, i);
        if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string())
            return core::fail(where + ": no \"id\"");
        PlannedJob job;
        job.id = entry["id"].get<std::string>();
        where += fmt::format(" (id '{}')", job.id);
        if (!seen.insert(job.id).second) return core::fail(where + ": the id is planned twice");
        job.site = entry.value("site", std::string());
        const auto pieces = entry.find("pieces");
        if (pieces != entry.end() && pieces->is_array() && !pieces->empty()) {
            for (std::size_t k = 0; k < pieces->size(); ++k) {
                const std::string at = fmt::format("{}: pieces[{}]", where, k);
                const json& p = (*pieces)[k];
                if (!p.is_object()) return core::fail(at + ": not an object");
                auto start = time_of(p, "start", at);
                if (!start) return tl::unexpected(start.error());
                auto end = time_of(p, "end", at);
                if (!end) return tl::unexpected(end.error());
                if (*end <= *start) return core::fail(at + ": ends before it starts");
                if (!job.pieces.empty() && *start < job.pieces.back().end_unix_s)
                    return core::fail(at + ": overlaps the piece before");
                const double hours = p.value("run_hours", (*end - *start) / 3600);
                job.pieces.push_back({*start, *end, hours});
            }
        } else {
            // A plan without pieces: one piece from start to finish.
            auto start = time_of(entry, "start", where);
            if (!start) return tl::unexpected(start.error());
            auto finish = time_of(entry, "finish", where);
            if (!finish) return tl::unexpected(finish.error());
            job.pieces.push_back({*start, *finish, (*finish - *start) / 3600});
        }
        auto finish = time_of(entry, "finish", where);
        job.finish_unix_s = finish ? *finish : job.pieces.back().end_unix_s;
        if (entry.contains("deadline")) {
            auto deadline = time_of(entry, "deadline", where);
            if (!deadline) return tl::unexpected(deadline.error());
            job.deadline_unix_s = *deadline;
        }
        if (entry.contains("earliest_start")) {
            auto earliest = time_of(entry, "earliest_start", where);
            if (!earliest) return tl::unexpected(earliest.error());
            job.earliest_start_unix_s = *earliest;
        }
        if (job.deadline_unix_s && job.earliest_start_unix_s && *job.deadline_unix_s < *job.earliest_start_unix_s)
            return core::fail(where + ": \"deadline\" is before \"earliest_start\"");
        out.push_back(std::move(job));
    }
    return out;
}

core::Result<std::vector<PlannedJob>> read_plan(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return core::fail(fmt::format("{}: cannot open the plan", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    return parse_plan_json(text.str(), path.string());
}

std::optional<std::string> missing_deadline_warning(const std::vector<PlannedJob>& plan, const std::string& source) {
    std::vector<std::string> ids;
    for (const PlannedJob& job : plan) {
        if (!job.deadline_unix_s) ids.push_back(job.id);
    }
    if (ids.empty()) return std::nullopt;
    std::string named;
    for (std::size_t i = 0; i < ids.size() && i < 3; ++i) named += (i == 0 ? "" : ", ") + ids[i];
    if (ids.size() > 3) named += ", ...";
    return fmt::format(
        "{}: {} of {} jobs carry no deadline ({}; a plan written by an older joulepilot): each is taken to "
        "end by its last planned slot, which may hold it back earlier than its real deadline; write the plan "
        "again with `joulepilot schedule plan --json` to carry each job's deadline",
        source, ids.size(), plan.size(), named);
}

core::Result<std::optional<std::vector<PlannedJob>>> PlanFileWatcher::poll() {
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(m_path, ec);
    if (ec) return core::fail(fmt::format("{}: cannot stat the plan: {}", m_path.string(), ec.message()));
    const auto size = std::filesystem::file_size(m_path, ec);
    if (m_mtime && *m_mtime == mtime && size == m_size) return std::optional<std::vector<PlannedJob>>();
    auto plan = read_plan(m_path);
    if (!plan) return tl::unexpected(plan.error());
    m_mtime = mtime;
    m_size = ec ? 0 : size;
    return std::optional<std::vector<PlannedJob>>(std::move(*plan));
}

}  // namespace joulepilot::sched
