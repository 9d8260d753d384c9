#pragma once
// JobStateStore: what the KubeController remembers per job across restarts (created or adopted, pieces
// released and paused, when, failed attempts, last message). Two implementations here: in memory (tests)
// and a JSON file replaced atomically (temp file, fsync, rename: `schedule run --state FILE`, and the
// format of earlier versions); the ledger's store, `schedule run`'s default, is ledger_job_state_store.hpp.
// Called by the controller only, on its one thread.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/result.hpp"

namespace joulepilot::sched {

struct JobState {
    std::string id;          // the plan's job id (label joulepilot.io/job-id)
    std::string ns;          // namespace of the Kubernetes Job
    std::string kube_name;   // metadata.name of the Kubernetes Job
    bool created = false;    // a Job exists for it (created by us or adopted)
    bool adopted = false;    // it existed before (labelled by its owner)
    int releases = 0;        // pieces released (suspend true -> false), counting a Job found running
    int pauses = 0;          // pieces ended (suspend false -> true) of an interruptible plan
    std::optional<double> created_unix_s;
    std::optional<double> released_unix_s;  // the last release
    int attempts = 0;        // failed API attempts since the last success
    std::string status;      // last outcome: created, adopted, released, waiting, deadline_missed, error, ...
    std::string message;

    bool operator==(const JobState&) const = default;
};

// One state as a JSON object, and back (`where` names the source in errors); shared by the JSON file and
// the ledger stores so both hold the same fields.
nlohmann::json job_state_to_json(const JobState& state);
core::Result<JobState> job_state_from_json(const nlohmann::json& in, const std::string& where);

class JobStateStore {
public:
    virtual ~JobStateStore() = default;
    virtual core::Result<std::vector<JobState>> load() = 0;
    // Inserts or replaces the state of `state.id`; durable when it returns.
    virtual core::Result<void> save(const JobState& state) = 0;
};

class InMemoryJobStateStore final : public JobStateStore {
public:
    core::Result<std::vector<JobState>> load() override;
    core::Result<void> save(const JobState& state) override;
    [[nodiscard]] std::size_t saves() const { return m_saves; }

private:
    std::map<std::string, JobState> m_states;
    std::size_t m_saves = 0;
};

// {"version": 1, "jobs": [{...}, ...]}; the whole file is rewritten on each save (a plan holds at most a
// few thousand jobs). A missing file is an empty store; a corrupt one is an error naming the file.
class JsonFileJobStateStore final : public JobStateStore {
public:
    explicit JsonFileJobStateStore(std::filesystem::path path) : m_path(std::move(path)) {}
    core::Result<std::vector<JobState>> load() override;
    core::Result<void> save(const JobState& state) override;

private:
    core::Result<void> write_all();

    std::filesystem::path m_path;
    std::map<std::string, JobState> m_states;
    bool m_loaded = false;
};

}  // namespace joulepilot::sched
