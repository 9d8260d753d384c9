#pragma once
// Test doubles of the remote actuators' servers, real HTTP servers (cpp-httplib) on 127.0.0.1 and an
// ephemeral port. They are TEST DOUBLES, not Kubernetes and not a model server:
//
// - KubeTestDouble follows the Kubernetes API contract for what joulepilot calls:
//   * GET/PATCH /apis/apps/v1/namespaces/NS/{deployments,statefulsets}/NAME/scale (autoscaling/v1 Scale);
//   * POST /apis/batch/v1/namespaces/NS/jobs (201, 409 AlreadyExists, 422 without metadata.name),
//     GET .../jobs?labelSelector=k=v,k2 (JobList), GET/PATCH .../jobs/NAME;
//   * PATCH takes application/merge-patch+json only (415 otherwise); a patch carrying a
//     metadata.resourceVersion that is not the object's current one is 409 Conflict; every write bumps
//     the resourceVersion (one counter for the whole store, as etcd's revision);
//   * errors are Status objects {kind: Status, status: Failure, message, reason, code};
//   * 401 without the expected bearer token (when one is set), 403 for a (verb, resource) pair the test
//     forbids, and injected faults: the next N requests answered 429/503 with Retry-After, or handled and
//     then answered 503 (the reply lost: the change happened, the client does not know).
//   It records every request ("PATCH /apis/...") and counts, per Job, the transitions of spec.suspend
//   from true to false (releases), so a test can prove a Job was released exactly once.
// - KnobEndpointDouble follows docs/http_knob.md: GET /v1/knobs, PUT /v1/knobs (all or nothing, 422 with
//   {"error"} for an unknown knob or a value outside the domain).
//
// Handlers run on httplib's worker threads; the state is guarded by a mutex.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace joulepilot::testing {

class KubeTestDouble {
public:
    KubeTestDouble() {
        using httplib::Request;
        using httplib::Response;
        const std::string scale = R"(/apis/apps/v1/namespaces/([^/]+)/(deployments|statefulsets)/([^/]+)/scale)";
        const std::string jobs = R"(/apis/batch/v1/namespaces/([^/]+)/jobs)";
        const std::string job = R"(/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+))";
        m_server.Get(scale, [this](const Request& q, Response& r) { handle(q, r, [&] { get_scale(q, r); }); });
        m_server.Patch(scale, [this](const Request& q, Response& r) { handle(q, r, [&] { patch_scale(q, r); }); });
        m_server.Post(jobs, [this](const Request& q, Response& r) { handle(q, r, [&] { create_job(q, r); }); });
        m_server.Get(jobs, [this](const Request& q, Response& r) { handle(q, r, [&] { list_jobs(q, r); }); });
        m_server.Get(job, [this](const Request& q, Response& r) { handle(q, r, [&] { get_job(q, r); }); });
        m_server.Patch(job, [this](const Request& q, Response& r) { handle(q, r, [&] { patch_job(q, r); }); });
        m_server.set_tcp_nodelay(true);  // no Nagle delay between a reply's header and body writes
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        // stop() before the listen loop runs would be lost and the destructor's join would hang.
        while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    KubeTestDouble(const KubeTestDouble&) = delete;
    KubeTestDouble& operator=(const KubeTestDouble&) = delete;
    ~KubeTestDouble() {
        m_server.stop();
        m_thread.join();
    }

    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

    // --- state set-up ---
    void add_workload(const std::string& resource, const std::string& ns, const std::string& name, int replicas) {
        std::lock_guard lock(m_mutex);
        m_scales[key(resource, ns, name)] = Workload{replicas, ++m_revision};
    }
    void add_job(const std::string& ns, nlohmann::json job) {
        std::lock_guard lock(m_mutex);
        job["metadata"]["namespace"] = ns;
        stamp(job);
        const std::string name = job["metadata"]["name"].get<std::string>();
        m_jobs[key("jobs", ns, name)] = std::move(job);
    }
    void delete_job(const std::string& ns, const std::string& name) {
        std::lock_guard lock(m_mutex);
        m_jobs.erase(key("jobs", ns, name));
    }
    // A write by someone else (kubectl, an autoscaler): bumps the resourceVersion.
    void set_replicas(const std::string& resource, const std::string& ns, const std::string& name, int replicas) {
        std::lock_guard lock(m_mutex);
        m_scales[key(resource, ns, name)] = Workload{replicas, ++m_revision};
    }
    void touch_job(const std::string& ns, const std::string& name) {
        std::lock_guard lock(m_mutex);
        stamp(m_jobs.at(key("jobs", ns, name)));
    }
    void require_token(std::string token) {
        std::lock_guard lock(m_mutex);
        m_token = std::move(token);
    }
    void forbid(const std::string& verb, const std::string& resource) {
        std::lock_guard lock(m_mutex);
        m_forbidden.insert(verb + " " + resource);
    }
    // The next `count` requests are answered `status` (429, 503...) with Retry-After when given.
    void fail_next(int count, int status, std::optional<int> retry_after_s = std::nullopt) {
        std::lock_guard lock(m_mutex);
        m_failures = count;
        m_failure_status = status;
        m_retry_after = retry_after_s;
    }
    // The next `count` requests (of `method` only, when given) are carried out, and then answered 503:
    // the reply is lost.
    void lose_next_replies(int count, std::string method = {}) {
        std::lock_guard lock(m_mutex);
        m_lost_replies = count;
        m_lost_method = std::move(method);
    }
    // Before each of the next `count` PATCHes, another writer changes the object (its resourceVersion
    // moves on), so a patch carrying the version read before is stale: 409.
    void concurrent_writes_before_next_patches(int count) {
        std::lock_guard lock(m_mutex);
        m_concurrent_writes = count;
    }
    // While on, every request answers 503 (an API server that is down behind its load balancer).
    void set_down(bool down) {
        std::lock_guard lock(m_mutex);
        m_down = down;
    }

    // --- observations ---
    [[nodiscard]] int replicas(const std::string& resource, const std::string& ns, const std::string& name) const {
        std::lock_guard lock(m_mutex);
        return m_scales.at(key(resource, ns, name)).replicas;
    }
    [[nodiscard]] std::optional<nlohmann::json> job(const std::string& ns, const std::string& name) const {
        std::lock_guard lock(m_mutex);
        const auto it = m_jobs.find(key("jobs", ns, name));
        return it == m_jobs.end() ? std::nullopt : std::optional<nlohmann::json>(it->second);
    }
    [[nodiscard]] std::size_t job_count() const {
        std::lock_guard lock(m_mutex);
        return m_jobs.size();
    }
    [[nodiscard]] int releases(const std::string& ns, const std::string& name) const {
        std::lock_guard lock(m_mutex);
        const auto it = m_releases.find(key("jobs", ns, name));
        return it == m_releases.end() ? 0 : it->second;
    }
    [[nodiscard]] std::vector<std::string> requests() const {
        std::lock_guard lock(m_mutex);
        return m_requests;
    }
    [[nodiscard]] int count_requests(const std::string& prefix) const {
        std::lock_guard lock(m_mutex);
        return static_cast<int>(std::count_if(m_requests.begin(), m_requests.end(),
                                              [&](const std::string& r) { return r.rfind(prefix, 0) == 0; }));
    }
    void clear_requests() {
        std::lock_guard lock(m_mutex);
        m_requests.clear();
    }

private:
    struct Workload {
        int replicas = 0;
        long revision = 0;
    };

    static std::string key(const std::string& resource, const std::string& ns, const std::string& name) {
        return resource + "/" + ns + "/" + name;
    }

    static void status(httplib::Response& res, int code, const std::string& reason, const std::string& message) {
        const nlohmann::json body = {{"kind", "Status"},  {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                                     {"status", "Failure"}, {"message", message}, {"reason", reason},
                                     {"code", code}};
        res.status = code;
        res.set_content(body.dump(), "application/json");
    }

    void stamp(nlohmann::json& object) { object["metadata"]["resourceVersion"] = std::to_string(++m_revision); }

    static std::string verb_of(const httplib::Request& req) {
        if (req.method == "GET") return req.matches.size() == 2 ? "list" : "get";
        if (req.method == "POST") return "create";
        return "patch";
    }
    static std::string resource_of(const httplib::Request& req) {
        return req.path.find("/scale") != std::string::npos ? req.matches[2].str() + "/scale" : "jobs";
    }

    // Authentication, authorisation and injected faults; then the handler, under the lock.
    template <class F>
    void handle(const httplib::Request& req, httplib::Response& res, F body) {
        std::lock_guard lock(m_mutex);
        m_requests.push_back(req.method + " " + req.path);
        if (!m_token.empty() && req.get_header_value("Authorization") != "Bearer " + m_token) {
            status(res, 401, "Unauthorized", "Unauthorized");
            return;
        }
        if (m_down) {
            status(res, 503, "ServiceUnavailable", "the server is currently unable to handle the request");
            return;
        }
        if (m_failures > 0) {
            --m_failures;
            if (m_retry_after) res.set_header("Retry-After", std::to_string(*m_retry_after));
            status(res, m_failure_status, m_failure_status == 429 ? "TooManyRequests" : "ServiceUnavailable",
                   "injected by the test double");
            return;
        }
        const std::string verb = verb_of(req);
        const std::string resource = resource_of(req);
        if (m_forbidden.contains(verb + " " + resource)) {
            status(res, 403, "Forbidden",
                   "User \"system:serviceaccount:jp:joulepilot\" cannot " + verb + " resource \"" + resource +
                       "\" in namespace \"" + req.matches[1].str() + "\"");
            return;
        }
        body();
        if (m_lost_replies > 0 && (m_lost_method.empty() || m_lost_method == req.method)) {
            --m_lost_replies;
            res = httplib::Response();
            status(res, 503, "ServiceUnavailable", "reply lost (injected by the test double)");
        }
    }

    bool merge_patch(const httplib::Request& req, httplib::Response& res, nlohmann::json& patch) {
        if (req.get_header_value("Content-Type") != "application/merge-patch+json") {
            status(res, 415, "UnsupportedMediaType", "the body of the request was in an unknown format");
            return false;
        }
        patch = nlohmann::json::parse(req.body, nullptr, false);
        if (!patch.is_object()) {
            status(res, 400, "BadRequest", "the patch is not a JSON object");
            return false;
        }
        return true;
    }

    static bool stale(const nlohmann::json& patch, const std::string& current) {
        if (!patch.contains("metadata") || !patch["metadata"].contains("resourceVersion")) return false;
        return patch["metadata"]["resourceVersion"] != current;
    }

    nlohmann::json scale_json(const httplib::Request& req, const Workload& w) const {
        return {{"kind", "Scale"},
                {"apiVersion", "autoscaling/v1"},
                {"metadata",
                 {{"name", req.matches[3].str()},
                  {"namespace", req.matches[1].str()},
                  {"resourceVersion", std::to_string(w.revision)}}},
                {"spec", {{"replicas", w.replicas}}},
                {"status", {{"replicas", w.replicas}, {"selector", "app=" + req.matches[3].str()}}}};
    }

    void get_scale(const httplib::Request& req, httplib::Response& res) {
        const auto it = m_scales.find(key(req.matches[2], req.matches[1], req.matches[3]));
        if (it == m_scales.end()) {
            status(res, 404, "NotFound", req.matches[2].str() + ".apps \"" + req.matches[3].str() + "\" not found");
            return;
        }
        res.set_content(scale_json(req, it->second).dump(), "application/json");
    }

    void patch_scale(const httplib::Request& req, httplib::Response& res) {
        const auto it = m_scales.find(key(req.matches[2], req.matches[1], req.matches[3]));
        if (it == m_scales.end()) {
            status(res, 404, "NotFound", req.matches[2].str() + ".apps \"" + req.matches[3].str() + "\" not found");
            return;
        }
        nlohmann::json patch;
        if (!merge_patch(req, res, patch)) return;
        if (m_concurrent_writes > 0) {
            --m_concurrent_writes;
            it->second.revision = ++m_revision;
        }
        if (stale(patch, std::to_string(it->second.revision))) {
            status(res, 409, "Conflict",
                   "Operation cannot be fulfilled on " + req.matches[2].str() + ".apps \"" + req.matches[3].str() +
                       "\": the object has been modified; please apply your changes to the latest version and "
                       "try again");
            return;
        }
        if (patch.contains("spec") && patch["spec"].contains("replicas")) {
            const auto& r = patch["spec"]["replicas"];
            if (!r.is_number_integer() || r.get<int>() < 0) {
                status(res, 422, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0");
                return;
            }
            it->second.replicas = r.get<int>();
            it->second.revision = ++m_revision;
        }
        res.set_content(scale_json(req, it->second).dump(), "application/json");
    }

    void create_job(const httplib::Request& req, httplib::Response& res) {
        nlohmann::json job = nlohmann::json::parse(req.body, nullptr, false);
        if (!job.is_object() || !job.contains("metadata") || !job["metadata"].contains("name")) {
            status(res, 422, "Invalid", "Job.batch is invalid: metadata.name: Required value");
            return;
        }
        const std::string name = job["metadata"]["name"].get<std::string>();
        const std::string k = key("jobs", req.matches[1], name);
        if (m_jobs.contains(k)) {
            status(res, 409, "AlreadyExists", "jobs.batch \"" + name + "\" already exists");
            return;
        }
        job["metadata"]["namespace"] = req.matches[1].str();
        job["metadata"]["uid"] = "uid-" + std::to_string(m_revision + 1);
        stamp(job);
        job["status"] = nlohmann::json::object();
        m_jobs[k] = job;
        res.status = 201;
        res.set_content(job.dump(), "application/json");
    }

    static bool matches_selector(const nlohmann::json& job, const std::string& selector) {
        const nlohmann::json labels = job["metadata"].value("labels", nlohmann::json::object());
        std::size_t start = 0;
        while (start <= selector.size() && !selector.empty()) {
            const std::size_t end = std::min(selector.find(',', start), selector.size());
            const std::string term = selector.substr(start, end - start);
            const std::size_t eq = term.find('=');
            if (eq == std::string::npos) {
                if (!labels.contains(term)) return false;
            } else {
                const std::string k = term.substr(0, eq);
                const std::string v = term.substr(eq + 1);
                if (!labels.contains(k) || labels[k] != v) return false;
            }
            start = end + 1;
        }
        return true;
    }

    void list_jobs(const httplib::Request& req, httplib::Response& res) {
        const std::string selector = req.get_param_value("labelSelector");
        nlohmann::json items = nlohmann::json::array();
        const std::string prefix = "jobs/" + req.matches[1].str() + "/";
        for (const auto& [k, job] : m_jobs) {
            if (k.rfind(prefix, 0) == 0 && matches_selector(job, selector)) items.push_back(job);
        }
        res.set_content(nlohmann::json({{"kind", "JobList"},
                                        {"apiVersion", "batch/v1"},
                                        {"metadata", {{"resourceVersion", std::to_string(m_revision)}}},
                                        {"items", items}})
                            .dump(),
                        "application/json");
    }

    void get_job(const httplib::Request& req, httplib::Response& res) {
        const auto it = m_jobs.find(key("jobs", req.matches[1], req.matches[2]));
        if (it == m_jobs.end()) {
            status(res, 404, "NotFound", "jobs.batch \"" + req.matches[2].str() + "\" not found");
            return;
        }
        res.set_content(it->second.dump(), "application/json");
    }

    void patch_job(const httplib::Request& req, httplib::Response& res) {
        const std::string k = key("jobs", req.matches[1], req.matches[2]);
        const auto it = m_jobs.find(k);
        if (it == m_jobs.end()) {
            status(res, 404, "NotFound", "jobs.batch \"" + req.matches[2].str() + "\" not found");
            return;
        }
        nlohmann::json patch;
        if (!merge_patch(req, res, patch)) return;
        if (m_concurrent_writes > 0) {
            --m_concurrent_writes;
            stamp(it->second);
        }
        if (stale(patch, it->second["metadata"]["resourceVersion"].get<std::string>())) {
            status(res, 409, "Conflict",
                   "Operation cannot be fulfilled on jobs.batch \"" + req.matches[2].str() +
                       "\": the object has been modified; please apply your changes to the latest version and "
                       "try again");
            return;
        }
        const bool was_suspended = it->second["spec"].value("suspend", false);
        patch.erase("metadata");
        it->second.merge_patch(patch);
        const bool suspended = it->second["spec"].value("suspend", false);
        if (was_suspended && !suspended) ++m_releases[k];
        stamp(it->second);
        res.set_content(it->second.dump(), "application/json");
    }

    httplib::Server m_server;
    std::thread m_thread;
    int m_port = -1;
    mutable std::mutex m_mutex;
    long m_revision = 100;
    std::map<std::string, Workload> m_scales;
    std::map<std::string, nlohmann::json> m_jobs;
    std::map<std::string, int> m_releases;
    std::vector<std::string> m_requests;
    std::set<std::string> m_forbidden;
    std::string m_token;
    int m_failures = 0;
    int m_failure_status = 503;
    std::optional<int> m_retry_after;
    int m_lost_replies = 0;
    std::string m_lost_method;
    int m_concurrent_writes = 0;
    bool m_down = false;
};

// The model server's knob endpoint (docs/http_knob.md); a test double.
class KnobEndpointDouble {
public:
    struct Entry {
        double value = 0;
        double min = 0;
        double max = 0;
        double step = 0;
        std::vector<double> values;
    };

    KnobEndpointDouble() {
        m_server.Get("/v1/knobs", [this](const httplib::Request&, httplib::Response& res) {
            std::lock_guard lock(m_mutex);
            ++m_gets;
            nlohmann::json knobs = nlohmann::json::array();
            for (const auto& [name, e] : m_knobs) {
                nlohmann::json k = {{"name", name}, {"value", e.value}};
                if (!e.values.empty()) {
                    k["values"] = e.values;
                } else {
                    k["min"] = e.min;
                    k["max"] = e.max;
                    if (e.step > 0) k["step"] = e.step;
                }
                knobs.push_back(k);
            }
            res.set_content(nlohmann::json({{"knobs", knobs}}).dump(), "application/json");
        });
        m_server.Put("/v1/knobs", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard lock(m_mutex);
            ++m_puts;
            const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
            const auto refuse = [&](const std::string& why) {
                res.status = 422;
                res.set_content(nlohmann::json({{"error", why}}).dump(), "application/json");
            };
            if (!body.is_object()) return refuse("the body is not a JSON object");
            for (const auto& [name, value] : body.items()) {
                const auto it = m_knobs.find(name);
                if (it == m_knobs.end()) return refuse("unknown knob '" + name + "'");
                if (!value.is_number() || !allowed(it->second, value.get<double>()))
                    return refuse("knob '" + name + "': value " + value.dump() + " is outside its domain");
            }
            nlohmann::json applied = nlohmann::json::object();
            for (const auto& [name, value] : body.items()) {
                m_knobs[name].value = value.get<double>();
                applied[name] = value.get<double>();
            }
            res.set_content(nlohmann::json({{"applied", applied}}).dump(), "application/json");
        });
        m_server.set_tcp_nodelay(true);  // no Nagle delay between a reply's header and body writes
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        // stop() before the listen loop runs would be lost and the destructor's join would hang.
        while (!m_server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    KnobEndpointDouble(const KnobEndpointDouble&) = delete;
    KnobEndpointDouble& operator=(const KnobEndpointDouble&) = delete;
    ~KnobEndpointDouble() {
        m_server.stop();
        m_thread.join();
    }

    void add(const std::string& name, Entry entry) {
        std::lock_guard lock(m_mutex);
        m_knobs[name] = std::move(entry);
    }
    [[nodiscard]] double value(const std::string& name) const {
        std::lock_guard lock(m_mutex);
        return m_knobs.at(name).value;
    }
    [[nodiscard]] int puts() const {
        std::lock_guard lock(m_mutex);
        return m_puts;
    }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    static bool allowed(const Entry& e, double v) {
        if (!e.values.empty()) return std::find(e.values.begin(), e.values.end(), v) != e.values.end();
        if (v < e.min || v > e.max) return false;
        return e.step <= 0 || std::abs(std::remainder(v - e.min, e.step)) < 1e-9;
    }

    httplib::Server m_server;
    std::thread m_thread;
    int m_port = -1;
    mutable std::mutex m_mutex;
    std::map<std::string, Entry> m_knobs;
    int m_gets = 0;
    int m_puts = 0;
};

}  // namespace joulepilot::testing
