#pragma once
// KubeController: `joulepilot schedule run --plan FILE --kube`. It turns a plan into Kubernetes Jobs that
// wait suspended (spec.suspend: true, label joulepilot.io/job-id=<id>) and releases each at its planned
// start; an interruptible job planned in pieces is suspended again at the end of each piece but the last.
//
// One reconcile() pass, per planned job: find its Job (state, else the label: adopt an existing one),
// else create it from the job template (none: report that the Job must be created by its owner); read
// the Job's current suspend state; release or pause as the plan asks at `clock.now()`. Rules:
//   - nothing is released twice: the Job's suspend state is read before every patch, a release is patched
//     with the resourceVersion read (a concurrent change gives 409: read again), and the state store says
//     which pieces were released already;
//   - a job is never released so late that it would end after its deadline (the plan's "deadline", else,
//     in plans written before it was carried, the end of its last planned slot): it is reported
//     `deadline_missed` and left suspended; nor before its "earliest_start" when the plan carries one;
//   - an API that is down or refusing is retried by the client with back-off; when it stays down the pass
//     stops (the rest waits for the next pass) and the state is kept;
//   - jobs dropped from a new plan are left as they are (suspended or running) and reported.
// `dry_run` reads the cluster and reports what it would create and release, writing nothing (neither the
// cluster nor the state store).
//
// Thread-safety: not thread-safe; the CLI's loop owns it.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "act/kube/kube_client.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "sched/job_state_store.hpp"
#include "sched/plan_file.hpp"

namespace joulepilot::sched {

inline constexpr std::string_view kJobIdLabel = "joulepilot.io/job-id";

// Job manifests to create: a YAML or JSON file used for every job, or a directory of <id>.yaml|.yml|.json.
// A job without a template is adopt-only: its owner creates the suspended Job with the label.
class JobTemplates {
public:
    static core::Result<JobTemplates> open(const std::filesystem::path& path);
    static JobTemplates none() { return JobTemplates(); }
    // nullopt: no template for this job.
    core::Result<std::optional<nlohmann::json>> for_job(const std::string& id) const;

private:
    std::filesystem::path m_path;
    bool m_directory = false;
    std::optional<nlohmann::json> m_single;
};

struct KubeControllerOptions {
    std::string ns = "default";
    bool dry_run = false;
    std::optional<std::string> site;  // only the jobs planned at this site
};

// What a pass did to one job. `action`: created, adopted, released, paused, waiting, running, finished,
// deadline_missed, dropped, no_template, would_create, would_release, would_pause, error, skipped.
struct JobOutcome {
    std::string id;
    std::string kube_name;
    std::string action;
    std::string message;
};

struct PassReport {
    double at_unix_s = 0;
    bool dry_run = false;
    bool api_unavailable = false;  // the pass stopped early: the API server stayed busy or unreachable
    std::vector<JobOutcome> jobs;

    [[nodiscard]] int count(std::string_view action) const;
    [[nodiscard]] nlohmann::json to_json() const;
    [[nodiscard]] std::string text() const;
};

class KubeController {
public:
    // Loads the state store (a corrupt store is an error: nothing is decided without it).
    static core::Result<KubeController> create(act::kube::KubeClient& client, JobStateStore& store,
                                               core::Clock& clock, JobTemplates templates,
                                               KubeControllerOptions options);

    // Replaces the plan (a re-plan). Jobs already released keep their state.
    void set_plan(std::vector<PlannedJob> plan);
    PassReport reconcile();

    [[nodiscard]] const std::map<std::string, JobState>& states() const { return m_states; }
    // "jp-train-a": the Job name for a plan id (lower-case, [a-z0-9-], at most 63 characters).
    static std::string job_name_for(const std::string& id, const std::string& prefix = "jp");

private:
    KubeController(act::kube::KubeClient& client, JobStateStore& store, core::Clock& clock, JobTemplates templates,
                   KubeControllerOptions options)
        : m_client(client), m_store(store), m_clock(clock), m_templates(std::move(templates)),
          m_options(std::move(options)) {}

    JobOutcome reconcile_job(const PlannedJob& job, double now, bool& stop);
    core::Result<void> persist(const JobState& state);
    JobOutcome fail(JobState& state, const std::string& action, const std::string& message, double now);

    act::kube::KubeClient& m_client;
    JobStateStore& m_store;
    core::Clock& m_clock;
    JobTemplates m_templates;
    KubeControllerOptions m_options;
    std::vector<PlannedJob> m_plan;
    std::map<std::string, JobState> m_states;
};

}  // namespace joulepilot::sched
