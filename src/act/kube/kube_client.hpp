#pragma once
// KubeClient: the few Kubernetes REST calls joulepilot makes, over HttpTransport.
//   - the scale subresource of a Deployment or StatefulSet (apps/v1 .../scale): read, set replicas;
//   - batch/v1 Jobs: create (the caller's manifest), get, list by label selector, patch spec.suspend.
// Users: the KubeScaleActuator (agent loop) and the scheduler's KubeController (`schedule run --kube`).
//
// Failures are core::Result errors naming the object and what to do: 401 (credentials), 403 (the RBAC
// verb, resource and namespace the service account lacks), 404 (name/namespace), 409 on a stale
// resourceVersion (re-read and retried once), 422 (the server's reason). 429, 500, 502, 503, 504 and a
// network that is down are retried with exponential back-off that honours Retry-After, up to
// `max_attempts` requests; then the last reason is returned. Nothing throws.
//
// Thread-safety: not thread-safe (one HttpTransport); one owner.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "act/kube/http_transport.hpp"
#include "act/kube/kube_credentials.hpp"
#include "core/result.hpp"

namespace joulepilot::act::kube {

enum class WorkloadKind : std::uint8_t { deployment, statefulset };

// "deployment" / "statefulset"; parse accepts the plural and "Deployment" too.
std::string_view to_string(WorkloadKind kind);
core::Result<WorkloadKind> parse_workload_kind(std::string_view text);

struct WorkloadRef {
    WorkloadKind kind = WorkloadKind::deployment;
    std::string ns;
    std::string name;
    // "deployment default/web"
    [[nodiscard]] std::string text() const;
};

struct Scale {
    int replicas = 0;         // spec.replicas: what was asked
    int status_replicas = 0;  // status.replicas: what runs now
    std::string resource_version;
};

struct KubeJob {
    std::string ns;
    std::string name;
    std::string uid;
    std::string resource_version;
    bool suspended = false;  // spec.suspend (absent: false)
    std::map<std::string, std::string> labels;
    int active = 0;  // status counts
    int succeeded = 0;
    int failed = 0;
    bool finished = false;  // a Complete or Failed condition is true
};

struct CreatedJob {
    KubeJob job;
    bool already_existed = false;  // 409 AlreadyExists: `job` is the existing one, read back
};

struct KubeClientOptions {
    int max_attempts = 5;  // requests per call when the server is busy or unreachable (>= 1)
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{30000};  // also caps a server's Retry-After
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds timeout{10000};
    // How the client waits between attempts; tests record instead of sleeping. Default: sleep_for.
    std::function<void(std::chrono::milliseconds)> sleep;
};

class KubeClient {
public:
    // https:// always with TLS verified; http:// only for a loopback server (the tests' double).
    static core::Result<KubeClient> create(KubeCredentials credentials, KubeClientOptions options = {});

    core::Result<Scale> get_scale(const WorkloadRef& ref);
    // Reads the scale, patches spec.replicas with the resourceVersion read (a concurrent writer makes it
    // 409: read again and retry once). Returns the scale the server answered.
    core::Result<Scale> set_replicas(const WorkloadRef& ref, int replicas);

    // POST of a batch/v1 Job manifest (apiVersion/kind filled in when absent; metadata.name required).
    core::Result<CreatedJob> create_job(std::string_view ns, const nlohmann::json& manifest);
    // nullopt: no such Job (404).
    core::Result<std::optional<KubeJob>> get_job(std::string_view ns, std::string_view name);
    // `selector`: a label selector, e.g. "joulepilot.io/job-id=train-a" or "joulepilot.io/managed=true".
    core::Result<std::vector<KubeJob>> list_jobs(std::string_view ns, std::string_view selector);
    // Merge-patches spec.suspend. With `resource_version` the patch carries it, so a Job changed meanwhile
    // gives 409: the Job is read again and, when it is not already in the asked state, patched once more.
    core::Result<KubeJob> set_job_suspended(std::string_view ns, std::string_view name, bool suspend,
                                            std::string_view resource_version = {});

    [[nodiscard]] const KubeCredentials& credentials() const { return m_credentials; }
    [[nodiscard]] const std::string& default_namespace() const { return m_credentials.default_namespace; }
    // True when the last call failed because the server stayed busy or unreachable through every attempt
    // (as opposed to a refusal such as 403 or 404): callers stop their pass and come back later.
    [[nodiscard]] bool last_call_unavailable() const { return m_unavailable; }
    // Requests sent (retries included), for tests and status.
    [[nodiscard]] std::uint64_t requests_sent() const { return m_requests; }

private:
    struct Call;
    KubeClient(KubeCredentials credentials, KubeClientOptions options, HttpTransport transport);
    core::Result<HttpResponse> send(const Call& call, std::string_view method, const std::string& path,
                                    const std::string& body = {}, std::string_view content_type = {});

    KubeCredentials m_credentials;
    KubeClientOptions m_options;
    HttpTransport m_transport;
    std::uint64_t m_requests = 0;
    bool m_unavailable = false;
};

// Parses a Job object of the API (exposed for tests).
core::Result<KubeJob> parse_job(const nlohmann::json& object);
// A label value and a DNS-1123 name, as Kubernetes validates them; nullopt when valid, else why not.
std::optional<std::string> invalid_label_value(std::string_view value);
std::optional<std::string> invalid_object_name(std::string_view name);

}  // namespace joulepilot::act::kube
