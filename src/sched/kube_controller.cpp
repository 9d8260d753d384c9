#include "sched/kube_controller.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "sched/report.hpp"
#include "sched/yaml_json.hpp"

namespace joulepilot::sched {
namespace {

using nlohmann::json;

core::Result<json> read_manifest(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return core::fail(fmt::format("{}: cannot read the job template", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    std::string extension = path.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    json manifest;
    if (extension == ".json") {
        manifest = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
        if (manifest.is_discarded()) return core::fail(fmt::format("{}: not valid JSON", path.string()));
    } else {
        auto parsed = parse_yaml_as_json(text.str(), path.string());
        if (!parsed) return tl::unexpected(parsed.error());
        manifest = std::move(*parsed);
    }
    if (!manifest.is_object()) return core::fail(fmt::format("{}: the job template is not a Job manifest", path.string()));
    if (manifest.contains("kind") && manifest["kind"] != "Job") {
        return core::fail(fmt::format("{}: the template's kind is {}, not Job (batch/v1)", path.string(),
                                      manifest["kind"].dump()));
    }
    const auto spec = manifest.find("spec");
    if (spec == manifest.end() || !spec->is_object() || !spec->contains("template")) {
        return core::fail(fmt::format("{}: the job template has no spec.template (the pod template to run)",
                                      path.string()));
    }
    return manifest;
}

// The manifest of one job: the template with our name, labels, annotations and spec.suspend: true.
json job_manifest(json manifest, const PlannedJob& job, const std::string& name) {
    manifest["apiVersion"] = "batch/v1";
    manifest["kind"] = "Job";
    json& meta = manifest["metadata"];
    meta.erase("generateName");
    meta.erase("resourceVersion");
    meta.erase("uid");
    meta["name"] = name;
    meta["labels"][std::string(kJobIdLabel)] = job.id;
    meta["labels"]["app.kubernetes.io/managed-by"] = "joulepilot";
    meta["annotations"]["joulepilot.io/planned-start"] = utc_text(job.start_unix_s());
    if (!job.site.empty()) meta["annotations"]["joulepilot.io/site"] = job.site;
    manifest["spec"]["suspend"] = true;
    return manifest;
}

std::string prefix_of(const json& manifest) {
    if (manifest.contains("metadata") && manifest["metadata"].is_object()) {
        const json& meta = manifest["metadata"];
        if (meta.contains("name") && meta["name"].is_string()) return meta["name"].get<std::string>();
        if (meta.contains("generateName") && meta["generateName"].is_string()) {
            std::string prefix = meta["generateName"].get<std::string>();
            while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
            return prefix;
        }
    }
    return "jp";
}

}  // namespace

core::Result<JobTemplates> JobTemplates::open(const std::filesystem::path& path) {
    JobTemplates templates;
    templates.m_path = path;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        templates.m_directory = true;
        return templates;
    }
    auto manifest = read_manifest(path);
    if (!manifest) return tl::unexpected(manifest.error());
    templates.m_single = std::move(*manifest);
    return templates;
}

core::Result<std::optional<json>> JobTemplates::for_job(const std::string& id) const {
    if (m_single) return std::optional<json>(*m_single);
    if (!m_directory) return std::optional<json>();
    for (const char* extension : {".yaml", ".yml", ".json"}) {
        const std::filesystem::path path = m_path / (id + extension);
        std::error_code ec;
        if (!std::filesystem::exists(path, ec)) continue;
        auto manifest = read_manifest(path);
        if (!manifest) return tl::unexpected(manifest.error());
        return std::optional<json>(std::move(*manifest));
    }
    return std::optional<json>();
}

int PassReport::count(std::string_view action) const {
    return static_cast<int>(std::count_if(jobs.begin(), jobs.end(), [&](const JobOutcome& o) { return o.action == action; }));
}

json PassReport::to_json() const {
    json list = json::array();
    std::map<std::string, int> counts;
    for (const JobOutcome& o : jobs) {
        list.push_back({{"id", o.id}, {"kube_name", o.kube_name}, {"action", o.action}, {"message", o.message}});
        ++counts[o.action];
    }
    return {{"at", utc_text(at_unix_s)}, {"dry_run", dry_run}, {"api_unavailable", api_unavailable},
            {"counts", counts},          {"jobs", list}};
}

std::string PassReport::text() const {
    std::string out = fmt::format("pass at {}{}{}\n", utc_text(at_unix_s), dry_run ? " (dry run: nothing written)" : "",
                                  api_unavailable ? " (API server unavailable: pass stopped early)" : "");
    for (const JobOutcome& o : jobs) {
        out += fmt::format("{:<16} {:<24} {:<28} {}\n", o.action, o.id, o.kube_name.empty() ? "-" : o.kube_name,
                           o.message);
    }
    return out;
}

std::string KubeController::job_name_for(const std::string& id, const std::string& prefix) {
    std::string name = prefix.empty() ? std::string() : prefix + "-";
    for (const char c : id) {
        const auto lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        name += (std::isalnum(static_cast<unsigned char>(lower)) != 0) ? lower : '-';
    }
    // 63: the Job controller copies the name into a pod label (job-name), which is limited to 63.
    if (name.size() > 63) name.resize(63);
    while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
    while (!name.empty() && (name.front() == '-' || name.front() == '.')) name.erase(0, 1);
    return name.empty() ? "jp" : name;
}

core::Result<KubeController> KubeController::create(act::kube::KubeClient& client, JobStateStore& store,
                                                    core::Clock& clock, JobTemplates templates,
                                                    KubeControllerOptions options) {
    auto loaded = store.load();
    if (!loaded) return tl::unexpected(loaded.error());
    KubeController controller(client, store, clock, std::move(templates), std::move(options));
    for (JobState& state : *loaded) controller.m_states[state.id] = std::move(state);
    return controller;
}

void KubeController::set_plan(std::vector<PlannedJob> plan) { m_plan = std::move(plan); }

core::Result<void> KubeController::persist(const JobState& state) {
    m_states[state.id] = state;
    if (m_options.dry_run) return {};
    return m_store.save(state);
}

JobOutcome KubeController::fail(JobState& state, const std::string& action, const std::string& message, double now) {
    (void)now;
    ++state.attempts;
    state.status = action;
    state.message = message;
    JobOutcome outcome{state.id, state.kube_name, action, message};
    if (auto saved = persist(state); !saved) outcome.message += "; state not saved: " + saved.error().message;
    return outcome;
}

PassReport KubeController::reconcile() {
    PassReport report;
    report.at_unix_s = m_clock.now().value();
    report.dry_run = m_options.dry_run;
    bool stop = false;
    std::set<std::string> planned;
    for (const PlannedJob& job : m_plan) {
        if (m_options.site && job.site != *m_options.site) continue;
        planned.insert(job.id);
        if (stop) {
            report.jobs.push_back({job.id, "", "skipped", "API server unavailable: left for the next pass"});
            continue;
        }
        report.jobs.push_back(reconcile_job(job, report.at_unix_s, stop));
    }
    report.api_unavailable = stop;
    for (const auto& [id, state] : m_states) {
        if (planned.contains(id) || !state.created) continue;
        if (std::any_of(m_plan.begin(), m_plan.end(), [&](const PlannedJob& j) { return j.id == id; })) continue;
        report.jobs.push_back({id, state.kube_name, "dropped",
                               state.releases > state.pauses
                                   ? "no longer in the plan; released earlier: left running"
                                   : "no longer in the plan; left suspended (delete the Job or plan it again)"});
    }
    return report;
}

JobOutcome KubeController::reconcile_job(const PlannedJob& job, double now, bool& stop) {
    const std::string& ns = m_options.ns;
    JobState state;
    if (const auto it = m_states.find(job.id); it != m_states.end()) {
        state = it->second;
    } else {
        state.id = job.id;
        state.ns = ns;
    }
    if (auto bad = act::kube::invalid_label_value(job.id)) {
        return {job.id, "", "error",
                fmt::format("job id '{}' cannot be a Kubernetes label value ({}); rename the job", job.id, *bad)};
    }
    const auto api_error = [&](const std::string& message) {
        stop = m_client.last_call_unavailable();
        return fail(state, "error", message, now);
    };

    // 1. The Job: known from the state, else found by its label (adopted), else created from the template.
    std::optional<act::kube::KubeJob> kube_job;
    std::string found_how;
    if (state.created && !state.kube_name.empty()) {
        auto got = m_client.get_job(ns, state.kube_name);
        if (!got) return api_error(got.error().message);
        if (*got) {
            kube_job = std::move(**got);
        } else if (state.releases > 0) {
            // Released and since deleted (ttlSecondsAfterFinished, kubectl delete): it ran; never run it again.
            if (state.status != "gone") {
                state.status = "gone";
                if (auto saved = persist(state); !saved) return {job.id, state.kube_name, "error", saved.error().message};
            }
            return {job.id, state.kube_name, "gone", "released earlier and since deleted; not created again"};
        } else {
            state.created = false;  // deleted before its release: look for it by label, or create it again
        }
    }
    if (!kube_job) {
        auto listed = m_client.list_jobs(ns, fmt::format("{}={}", kJobIdLabel, job.id));
        if (!listed) return api_error(listed.error().message);
        if (listed->size() > 1) {
            return fail(state, "error",
                        fmt::format("{} Jobs in {} carry {}={}: keep one, joulepilot will not guess", listed->size(),
                                    ns, kJobIdLabel, job.id),
                        now);
        }
        if (listed->size() == 1) {
            kube_job = std::move(listed->front());
            found_how = "adopted";
            if (!state.created_unix_s) {  // not created by us before: someone else's Job, labelled for us
                state.adopted = true;
                state.created_unix_s = now;
            }
        } else {
            auto manifest = m_templates.for_job(job.id);
            if (!manifest) return fail(state, "error", manifest.error().message, now);
            if (!*manifest) {
                return {job.id, "", "no_template",
                        fmt::format("no Job labelled {}={} in {} and no job template: create the Job with "
                                    "spec.suspend: true and that label, or pass --job-template",
                                    kJobIdLabel, job.id, ns)};
            }
            const std::string name =
                state.kube_name.empty() ? job_name_for(job.id, prefix_of(**manifest)) : state.kube_name;
            if (m_options.dry_run) {
                return {job.id, name, "would_create",
                        fmt::format("would create Job {}/{} suspended; release planned at {}", ns, name,
                                    utc_text(job.start_unix_s()))};
            }
            auto created = m_client.create_job(ns, job_manifest(std::move(**manifest), job, name));
            if (!created) return api_error(created.error().message);
            const auto label = created->job.labels.find(std::string(kJobIdLabel));
            if (created->already_existed && (label == created->job.labels.end() || label->second != job.id)) {
                return fail(state, "error",
                            fmt::format("Job {}/{} exists but is not labelled {}={}: another job's name clashes; "
                                        "rename one of them",
                                        ns, name, kJobIdLabel, job.id),
                            now);
            }
            kube_job = std::move(created->job);
            found_how = created->already_existed ? "adopted" : "created";
            state.adopted = created->already_existed;
            state.created_unix_s = now;
        }
        state.created = true;
        state.kube_name = kube_job->name;
        state.ns = ns;
        if (found_how == "adopted" && !kube_job->suspended && state.releases == 0) {
            // Running already and never released by us: count it, so that it is never released again.
            state.releases = 1;
            state.released_unix_s = now;
            found_how = "adopted_running";
        }
        state.attempts = 0;
        state.status = found_how;
        state.message = "";
        if (auto saved = persist(state); !saved) return {job.id, state.kube_name, "error", saved.error().message};
    }
    state.attempts = 0;
    const std::string& name = state.kube_name;

    if (kube_job->finished) {
        if (state.status != "finished") {
            state.status = "finished";
            state.message = "";
            if (auto saved = persist(state); !saved) return {job.id, name, "error", saved.error().message};
        }
        return {job.id, name, "finished", "the Job has completed or failed"};
    }

    // 2. What the plan wants now: the last piece that has started, and whether it is still running.
    int k = -1;
    for (std::size_t i = 0; i < job.pieces.size(); ++i) {
        if (job.pieces[i].start_unix_s <= now) k = static_cast<int>(i);
    }
    const bool last = k == static_cast<int>(job.pieces.size()) - 1;
    const bool run_wanted = k >= 0 && (last || now < job.pieces[static_cast<std::size_t>(k)].end_unix_s);
    const int releases_needed = k + 1;
    const std::string created_note =
        found_how.empty() ? std::string()
                          : (found_how == "adopted_running" ? "adopted (already running, not released by joulepilot); "
                                                            : found_how + "; ");

    if (!run_wanted) {
        if (k < 0) {
            return {job.id, name, found_how.empty() ? "waiting" : found_how,
                    created_note + fmt::format("release at {}", utc_text(job.start_unix_s()))};
        }
        // Between two pieces of an interruptible job: suspend it once after each piece.
        const int pauses_needed = k + 1;
        if (!kube_job->suspended && state.pauses < pauses_needed && state.releases > state.pauses) {
            const std::string when = utc_text(job.pieces[static_cast<std::size_t>(k) + 1].start_unix_s);
            if (m_options.dry_run)
                return {job.id, name, "would_pause", fmt::format("would suspend until the next piece at {}", when)};
            auto paused = m_client.set_job_suspended(ns, name, true, kube_job->resource_version);
            if (!paused) return api_error(paused.error().message);
            state.pauses = pauses_needed;
            state.status = "paused";
            state.message = "";
            if (auto saved = persist(state); !saved) return {job.id, name, "error", saved.error().message};
            return {job.id, name, "paused", fmt::format("piece {} ended; next piece at {}", k + 1, when)};
        }
        return {job.id, name, "waiting",
                fmt::format("next piece at {}", utc_text(job.pieces[static_cast<std::size_t>(k) + 1].start_unix_s))};
    }

    if (!kube_job->suspended) {
        if (state.releases < releases_needed) {
            // Released by a pass whose state was lost, or by someone else: record it, never patch again.
            state.releases = releases_needed;
            if (!state.released_unix_s) state.released_unix_s = now;
            state.status = "running";
            if (auto saved = persist(state); !saved) return {job.id, name, "error", saved.error().message};
            return {job.id, name, "running", created_note + "found running already: not released again"};
        }
        return {job.id, name, "running", created_note + "released earlier"};
    }
    if (state.releases >= releases_needed) {
        return {job.id, name, "held",
                fmt::format("released at {} but suspended again by someone else (Kueue? kubectl?); not released "
                            "twice",
                            state.released_unix_s ? utc_text(*state.released_unix_s) : std::string("?"))};
    }

    // Never before the job's earliest start, even if the plan's piece says so (a plan edited by hand).
    if (job.earliest_start_unix_s && now < *job.earliest_start_unix_s) {
        return {job.id, name, found_how.empty() ? "waiting" : found_how,
                created_note + fmt::format("planned at {} but its earliest start is {}: released then",
                                           utc_text(job.pieces[static_cast<std::size_t>(k)].start_unix_s),
                                           utc_text(*job.earliest_start_unix_s))};
    }
    // Deadline: a release now must let the rest of the plan's run time end by the deadline.
    double remaining_s = 0;
    for (std::size_t i = static_cast<std::size_t>(k); i < job.pieces.size(); ++i) remaining_s += job.pieces[i].run_hours * 3600;
    const double deadline = job.deadline_unix_s.value_or(job.pieces.back().end_unix_s);
    const char* deadline_kind = job.deadline_unix_s ? "deadline" : "planned window end (the plan carries no deadline)";
    if (now + remaining_s > deadline + 1e-6) {
        const std::string message = fmt::format(
            "NOT released: starting now ({}) it would end at {}, after its {} {}; left suspended: re-plan it or "
            "release it by hand",
            utc_text(now), utc_text(now + remaining_s), deadline_kind, utc_text(deadline));
        if (state.status != "deadline_missed") {
            state.status = "deadline_missed";
            state.message = message;
            if (auto saved = persist(state); !saved) return {job.id, name, "error", saved.error().message};
        }
        return {job.id, name, "deadline_missed", message};
    }
    if (m_options.dry_run) {
        return {job.id, name, "would_release",
                created_note + fmt::format("would release now (planned {})",
                                           utc_text(job.pieces[static_cast<std::size_t>(k)].start_unix_s))};
    }
    auto released = m_client.set_job_suspended(ns, name, false, kube_job->resource_version);
    if (!released) return api_error(released.error().message);
    state.releases = releases_needed;
    state.released_unix_s = now;
    state.status = "released";
    state.message = "";
    if (auto saved = persist(state); !saved) {
        return {job.id, name, "error", "released, but " + saved.error().message};
    }
    return {job.id, name, "released",
            created_note + fmt::format("released at {} (planned {}{})", utc_text(now),
                                       utc_text(job.pieces[static_cast<std::size_t>(k)].start_unix_s),
                                       job.pieces.size() > 1 ? fmt::format(", piece {} of {}", k + 1, job.pieces.size())
                                                             : std::string())};
}

}  // namespace joulepilot::sched
