#include "sched/job_state_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::sched {
namespace {

using nlohmann::json;

// fsync of a file or directory by path; the rename below is durable only once its directory is synced.
bool sync_path(const std::filesystem::path& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

json job_state_to_json(const JobState& s) {
    json out = {{"id", s.id},           {"namespace", s.ns},   {"kube_name", s.kube_name},
                {"created", s.created}, {"adopted", s.adopted}, {"releases", s.releases},
                {"pauses", s.pauses},   {"attempts", s.attempts}, {"status", s.status},
                {"message", s.message}};
    if (s.created_unix_s) out["created_unix_s"] = *s.created_unix_s;
    if (s.released_unix_s) out["released_unix_s"] = *s.released_unix_s;
    return out;
}

core::Result<JobState> job_state_from_json(const json& in, const std::string& where) {
    if (!in.is_object() || !in.contains("id") || !in["id"].is_string())
        return core::fail(where + ": a job state without an id");
    try {
        JobState s;
        s.id = in.at("id").get<std::string>();
        s.ns = in.value("namespace", std::string());
        s.kube_name = in.value("kube_name", std::string());
        s.created = in.value("created", false);
        s.adopted = in.value("adopted", false);
        s.releases = in.value("releases", 0);
        s.pauses = in.value("pauses", 0);
        s.attempts = in.value("attempts", 0);
        s.status = in.value("status", std::string());
        s.message = in.value("message", std::string());
        if (in.contains("created_unix_s")) s.created_unix_s = in["created_unix_s"].get<double>();
        if (in.contains("released_unix_s")) s.released_unix_s = in["released_unix_s"].get<double>();
        return s;
    } catch (const json::exception& e) {
        return core::fail(fmt::format("{}: job state '{}': {}", where, in["id"].get<std::string>(), e.what()));
    }
}

core::Result<std::vector<JobState>> InMemoryJobStateStore::load() {
    std::vector<JobState> out;
    for (const auto& [id, state] : m_states) out.push_back(state);
    return out;
}

core::Result<void> InMemoryJobStateStore::save(const JobState& state) {
    m_states[state.id] = state;
    ++m_saves;
    return {};
}

core::Result<std::vector<JobState>> JsonFileJobStateStore::load() {
    // Until a load succeeds, save() loads first: a file that could not be read is never overwritten.
    m_states.clear();
    m_loaded = false;
    std::error_code ec;
    if (!std::filesystem::exists(m_path, ec)) {
        m_loaded = true;
        return std::vector<JobState>();
    }
    std::ifstream in(m_path);
    if (!in) return core::fail(fmt::format("{}: cannot read the controller state", m_path.string()));
    std::stringstream text;
    text << in.rdbuf();
    const json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("jobs") || !doc["jobs"].is_array()) {
        return core::fail(fmt::format(
            "{}: the controller state is corrupt (not {{\"version\":1,\"jobs\":[...]}}); it is left as it is: "
            "move it away to start afresh (Jobs already released stay released: the controller checks each "
            "Job's suspend state before it acts)",
            m_path.string()));
    }
    std::vector<JobState> out;
    for (const json& entry : doc["jobs"]) {
        auto state = job_state_from_json(entry, m_path.string());
        if (!state) return tl::unexpected(state.error());
        m_states[state->id] = *state;
        out.push_back(std::move(*state));
    }
    m_loaded = true;
    return out;
}

core::Result<void> JsonFileJobStateStore::save(const JobState& state) {
    if (!m_loaded) {
        auto loaded = load();
        if (!loaded) return tl::unexpected(loaded.error());
    }
    m_states[state.id] = state;
    return write_all();
}

core::Result<void> JsonFileJobStateStore::write_all() {
    json jobs = json::array();
    for (const auto& [id, state] : m_states) jobs.push_back(job_state_to_json(state));
    const std::string text = json({{"version", 1}, {"jobs", jobs}}).dump(1) + "\n";
    std::filesystem::path tmp = m_path;
    tmp += fmt::format(".tmp.{}", ::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) {
            return core::fail(fmt::format("{}: cannot write the controller state ({})", tmp.string(),
                                          std::strerror(errno)));
        }
    }
    if (!sync_path(tmp, O_RDONLY)) {
        return core::fail(fmt::format("{}: fsync failed ({})", tmp.string(), std::strerror(errno)));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, m_path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        return core::fail(fmt::format("{}: cannot replace the controller state: {}", m_path.string(), ec.message()));
    }
    const std::filesystem::path dir = m_path.has_parent_path() ? m_path.parent_path() : ".";
    sync_path(dir, O_RDONLY | O_DIRECTORY);  // best effort: some filesystems refuse fsync on a directory
    return {};
}

}  // namespace joulepilot::sched
