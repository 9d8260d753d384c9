#include "act/kube/kube_client.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include <fmt/format.h>

#include "core/http/curl_easy.hpp"

namespace joulepilot::act::kube {
namespace {

using nlohmann::json;

constexpr std::string_view kMergePatch = "application/merge-patch+json";
constexpr std::string_view kJson = "application/json";

std::string shorten(std::string_view text, std::size_t max_chars) {
    if (text.size() <= max_chars) return std::string(text);
    return std::string(text.substr(0, max_chars)) + "...";
}

// The API's Status object says why; fall back to the start of the body.
std::string reason_of(const HttpResponse& response) {
    const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object()) {
        if (const auto message = body.find("message"); message != body.end() && message->is_string())
            return message->get<std::string>();
    }
    return shorten(response.body, 160);
}

std::string status_reason(const HttpResponse& response) {
    const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object()) {
        if (const auto reason = body.find("reason"); reason != body.end() && reason->is_string())
            return reason->get<std::string>();
    }
    return {};
}

bool retryable(long status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

core::Result<json> parse_body(const HttpResponse& response, const std::string& what) {
    json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
        return core::fail(fmt::format("kube: {}: the answer is not a JSON object: '{}'", what,
                                      shorten(response.body, 80)));
    }
    return body;
}

int int_at(const json& object, std::string_view a, std::string_view b) {
    const auto outer = object.find(std::string(a));
    if (outer == object.end() || !outer->is_object()) return 0;
    const auto inner = outer->find(std::string(b));
    return inner != outer->end() && inner->is_number_integer() ? inner->get<int>() : 0;
}

core::Result<Scale> parse_scale(const json& body, const std::string& what) {
    Scale scale;
    const auto spec = body.find("spec");
    if (spec == body.end() || !spec->is_object())
        return core::fail(fmt::format("kube: {}: the Scale has no spec", what));
    scale.replicas = int_at(body, "spec", "replicas");
    scale.status_replicas = int_at(body, "status", "replicas");
    if (const auto meta = body.find("metadata"); meta != body.end() && meta->is_object())
        scale.resource_version = meta->value("resourceVersion", std::string());
    return scale;
}

}  // namespace

struct KubeClient::Call {
    std::string verb;      // RBAC verb: get, list, create, patch
    std::string resource;  // RBAC resource: deployments/scale, jobs
    std::string group;     // API group: apps, batch
    std::string ns;
    std::string object;    // for messages: "deployment default/web"
    [[nodiscard]] std::string what() const { return fmt::format("{} {}", verb, object); }
};

std::string_view to_string(WorkloadKind kind) {
    return kind == WorkloadKind::deployment ? "deployment" : "statefulset";
}

core::Result<WorkloadKind> parse_workload_kind(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "deployment" || lower == "deployments") return WorkloadKind::deployment;
    if (lower == "statefulset" || lower == "statefulsets") return WorkloadKind::statefulset;
    return core::fail(fmt::format("kube: workload kind '{}' is not deployment or statefulset", text));
}

std::string WorkloadRef::text() const { return fmt::format("{} {}/{}", to_string(kind), ns, name); }

std::optional<std::string> invalid_label_value(std::string_view value) {
    if (value.size() > 63) return "longer than 63 characters";
    if (value.empty()) return std::nullopt;
    const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    if (!alnum(value.front()) || !alnum(value.back())) return "must start and end with a letter or digit";
    for (const char c : value) {
        if (!alnum(c) && c != '-' && c != '_' && c != '.')
            return fmt::format("'{}' is not a letter, digit, '-', '_' or '.'", c);
    }
    return std::nullopt;
}

std::optional<std::string> invalid_object_name(std::string_view name) {
    if (name.empty()) return "empty";
    if (name.size() > 253) return "longer than 253 characters";
    const auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_alnum(name.front()) || !lower_alnum(name.back()))
        return "must start and end with a lower-case letter or digit";
    for (const char c : name) {
        if (!lower_alnum(c) && c != '-' && c != '.')
            return fmt::format("'{}' is not a lower-case letter, digit, '-' or '.'", c);
    }
    return std::nullopt;
}

core::Result<KubeJob> parse_job(const json& object) {
    if (!object.is_object()) return core::fail("kube: a Job is not a JSON object");
    KubeJob job;
    const auto meta = object.find("metadata");
    if (meta == object.end() || !meta->is_object()) return core::fail("kube: a Job has no metadata");
    job.name = meta->value("name", std::string());
    job.ns = meta->value("namespace", std::string());
    job.uid = meta->value("uid", std::string());
    job.resource_version = meta->value("resourceVersion", std::string());
    if (const auto labels = meta->find("labels"); labels != meta->end() && labels->is_object()) {
        for (const auto& [key, value] : labels->items()) {
            if (value.is_string()) job.labels.emplace(key, value.get<std::string>());
        }
    }
    if (const auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
        if (const auto suspend = spec->find("suspend"); suspend != spec->end() && suspend->is_boolean())
            job.suspended = suspend->get<bool>();
    }
    job.active = int_at(object, "status", "active");
    job.succeeded = int_at(object, "status", "succeeded");
    job.failed = int_at(object, "status", "failed");
    if (const auto status = object.find("status"); status != object.end() && status->is_object()) {
        if (const auto conditions = status->find("conditions");
            conditions != status->end() && conditions->is_array()) {
            for (const json& c : *conditions) {
                if (!c.is_object()) continue;
                const std::string type = c.value("type", std::string());
                if ((type == "Complete" || type == "Failed") && c.value("status", std::string()) == "True")
                    job.finished = true;
            }
        }
    }
    if (job.name.empty()) return core::fail("kube: a Job has no metadata.name");
    return job;
}

KubeClient::KubeClient(KubeCredentials credentials, KubeClientOptions options, HttpTransport transport)
    : m_credentials(std::move(credentials)), m_options(std::move(options)), m_transport(std::move(transport)) {}

core::Result<KubeClient> KubeClient::create(KubeCredentials credentials, KubeClientOptions options) {
    if (options.max_attempts < 1) return core::fail("kube: max_attempts must be at least 1");
    if (!options.sleep) options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    HttpTransportOptions transport;
    transport.base_url = credentials.server;
    transport.ca_pem = credentials.ca_pem;
    transport.client_cert_pem = credentials.client_cert_pem;
    transport.client_key_pem = credentials.client_key_pem;
    transport.bearer_token = credentials.token;
    transport.bearer_token_file = credentials.token_file;
    transport.connect_timeout = options.connect_timeout;
    transport.timeout = options.timeout;
    transport.what = "kube";
    auto made = HttpTransport::create(std::move(transport), is_loopback_url(credentials.server));
    if (!made) return tl::unexpected(core::Error{made.error().message + " (from " + credentials.source + ")"});
    return KubeClient(std::move(credentials), std::move(options), std::move(*made));
}

core::Result<HttpResponse> KubeClient::send(const Call& call, std::string_view method, const std::string& path,
                                            const std::string& body, std::string_view content_type) {
    std::string last;
    m_unavailable = false;
    for (int attempt = 1; attempt <= m_options.max_attempts; ++attempt) {
        ++m_requests;
        auto response = m_transport.request(method, path, body, content_type);
        std::optional<std::chrono::milliseconds> retry_after;
        if (response) {
            const long status = response->status;
            if (!retryable(status)) {
                if (status == 401) {
                    return core::fail(fmt::format(
                        "kube: {}: unauthorized (401): the API server did not accept the credentials from {} "
                        "(expired token or wrong user?)",
                        call.what(), m_credentials.source));
                }
                if (status == 403) {
                    return core::fail(fmt::format(
                        "kube: {}: forbidden (403): grant the service account RBAC verb '{}' on resource "
                        "'{}' (API group '{}') in namespace '{}' (see deploy/ and docs/kubernetes.md); "
                        "server said: {}",
                        call.what(), call.verb, call.resource, call.group, call.ns, reason_of(*response)));
                }
                return std::move(*response);
            }
            retry_after = response->retry_after;
            last = fmt::format("HTTP {}: {}", status, reason_of(*response));
        } else {
            if (response.error().kind == TransportFailure::local)
                return core::fail(fmt::format("kube: {}: {}", call.what(), response.error().message));
            last = response.error().message;
        }
        if (attempt == m_options.max_attempts) break;
        // Exponential back-off; a server's Retry-After wins (bounded, so one answer cannot park us).
        std::chrono::milliseconds delay(m_options.initial_backoff.count() << std::min(attempt - 1, 20));
        if (retry_after) delay = *retry_after;
        m_options.sleep(std::min(delay, m_options.max_backoff));
    }
    m_unavailable = true;
    return core::fail(fmt::format(
        "kube: {}: the API server at {} did not answer usefully after {} attempts (last: {}); nothing was "
        "changed by this call, it is safe to retry later",
        call.what(), m_credentials.server, m_options.max_attempts, last));
}

core::Result<Scale> KubeClient::get_scale(const WorkloadRef& ref) {
    const std::string resource = fmt::format("{}s", to_string(ref.kind));
    const Call call{"get", resource + "/scale", "apps", ref.ns, ref.text() + " (scale)"};
    const std::string path = fmt::format("/apis/apps/v1/namespaces/{}/{}/{}/scale", ref.ns, resource, ref.name);
    auto response = send(call, "GET", path);
    if (!response) return tl::unexpected(response.error());
    if (response->status == 404) {
        return core::fail(fmt::format("kube: {}: not found (404): check the name and the namespace", call.what()));
    }
    if (response->status != 200) {
        return core::fail(fmt::format("kube: {}: HTTP {}: {}", call.what(), response->status, reason_of(*response)));
    }
    auto body = parse_body(*response, call.what());
    if (!body) return tl::unexpected(body.error());
    return parse_scale(*body, call.what());
}

core::Result<Scale> KubeClient::set_replicas(const WorkloadRef& ref, int replicas) {
    if (replicas < 0) return core::fail(fmt::format("kube: {}: replicas {} is negative", ref.text(), replicas));
    const std::string resource = fmt::format("{}s", to_string(ref.kind));
    const Call call{"patch", resource + "/scale", "apps", ref.ns, ref.text() + " (scale)"};
    const std::string path = fmt::format("/apis/apps/v1/namespaces/{}/{}/{}/scale", ref.ns, resource, ref.name);
    for (int round = 0; round < 2; ++round) {
        auto current = get_scale(ref);
        if (!current) return tl::unexpected(current.error());
        if (current->replicas == replicas) return *current;
        json patch = {{"spec", {{"replicas", replicas}}}};
        if (!current->resource_version.empty())
            patch["metadata"] = {{"resourceVersion", current->resource_version}};
        auto response = send(call, "PATCH", path, patch.dump(), kMergePatch);
        if (!response) return tl::unexpected(response.error());
        if (response->status == 409) continue;  // someone else wrote in between: read again, retry once
        if (response->status == 404) {
            return core::fail(fmt::format("kube: {}: not found (404): check the name and the namespace", call.what()));
        }
        if (response->status == 422) {
            return core::fail(fmt::format("kube: {}: replicas {} refused (422): {}", call.what(), replicas,
                                          reason_of(*response)));
        }
        if (response->status != 200) {
            return core::fail(fmt::format("kube: {}: HTTP {}: {}", call.what(), response->status, reason_of(*response)));
        }
        auto body = parse_body(*response, call.what());
        if (!body) return tl::unexpected(body.error());
        return parse_scale(*body, call.what());
    }
    return core::fail(fmt::format(
        "kube: {}: conflict (409) twice: another writer (an autoscaler? kubectl?) keeps changing the scale; "
        "left as it is",
        call.what()));
}

core::Result<CreatedJob> KubeClient::create_job(std::string_view ns, const json& manifest) {
    json object = manifest;
    if (!object.is_object()) return core::fail("kube: create job: the manifest is not an object");
    if (!object.contains("apiVersion")) object["apiVersion"] = "batch/v1";
    if (!object.contains("kind")) object["kind"] = "Job";
    const std::string name =
        object.contains("metadata") && object["metadata"].is_object() ? object["metadata"].value("name", "") : "";
    if (auto bad = invalid_object_name(name))
        return core::fail(fmt::format("kube: create job '{}': metadata.name {}", name, *bad));
    object["metadata"]["namespace"] = std::string(ns);
    const Call call{"create", "jobs", "batch", std::string(ns), fmt::format("job {}/{}", ns, name)};
    auto response =
        send(call, "POST", fmt::format("/apis/batch/v1/namespaces/{}/jobs", ns), object.dump(), kJson);
    if (!response) return tl::unexpected(response.error());
    if (response->status == 409) {
        // AlreadyExists (a POST has no resourceVersion to be stale): read back what is there.
        auto existing = get_job(ns, name);
        if (!existing) return tl::unexpected(existing.error());
        if (!*existing) {
            return core::fail(fmt::format("kube: {}: conflict (409) but the Job cannot be read back: {}",
                                          call.what(), reason_of(*response)));
        }
        return CreatedJob{std::move(**existing), true};
    }
    if (response->status == 404) {
        return core::fail(fmt::format("kube: {}: not found (404): does namespace '{}' exist?", call.what(), ns));
    }
    if (response->status == 422 || response->status == 400) {
        return core::fail(fmt::format("kube: {}: the manifest was refused ({}): {}; check the job template",
                                      call.what(), response->status, reason_of(*response)));
    }
    if (response->status != 201 && response->status != 200) {
        return core::fail(fmt::format("kube: {}: HTTP {}: {}", call.what(), response->status, reason_of(*response)));
    }
    auto body = parse_body(*response, call.what());
    if (!body) return tl::unexpected(body.error());
    auto job = parse_job(*body);
    if (!job) return tl::unexpected(job.error());
    return CreatedJob{std::move(*job), false};
}

core::Result<std::optional<KubeJob>> KubeClient::get_job(std::string_view ns, std::string_view name) {
    const Call call{"get", "jobs", "batch", std::string(ns), fmt::format("job {}/{}", ns, name)};
    auto response = send(call, "GET", fmt::format("/apis/batch/v1/namespaces/{}/jobs/{}", ns, name));
    if (!response) return tl::unexpected(response.error());
    if (response->status == 404) return std::optional<KubeJob>();
    if (response->status != 200) {
        return core::fail(fmt::format("kube: {}: HTTP {}: {}", call.what(), response->status, reason_of(*response)));
    }
    auto body = parse_body(*response, call.what());
    if (!body) return tl::unexpected(body.error());
    auto job = parse_job(*body);
    if (!job) return tl::unexpected(job.error());
    return std::optional<KubeJob>(std::move(*job));
}

core::Result<std::vector<KubeJob>> KubeClient::list_jobs(std::string_view ns, std::string_view selector) {
    const Call call{"list", "jobs", "batch", std::string(ns), fmt::format("jobs in {} ({})", ns, selector)};
    std::string path = fmt::format("/apis/batch/v1/namespaces/{}/jobs", ns);
    if (!selector.empty()) path += "?labelSelector=" + core::http::url_escape(selector);
    auto response = send(call, "GET", path);
    if (!response) return tl::unexpected(response.error());
    if (response->status == 404) {
        return core::fail(fmt::format("kube: {}: not found (404): does namespace '{}' exist?", call.what(), ns));
    }
    if (response->status != 200) {
        return core::fail(fmt::format("kube: {}: HTTP {}: {}", call.what(), response->status, reason_of(*response)));
    }
    auto body = parse_body(*response, call.what());
    if (!body) return tl::unexpected(body.error());
    const auto items = body->find("items");
    if (items == body->end() || !items->is_array())
        return core::fail(fmt::format("kube: {}: the JobList has no items", call.what()));
    std::vector<KubeJob> jobs;
    for (const json& item : *items) {
        auto job = parse_job(item);
        if (!job) return core::fail(fmt::format("kube: {}: {}", call.what(), job.error().message));
        jobs.push_back(std::move(*job));
    }
    return jobs;
}

core::Result<KubeJob> KubeClient::set_job_suspended(std::string_view ns, std::string_view name, bool suspend,
                                                    std::string_view resource_version) {
    const Call call{"patch", "jobs", "batch", std::string(ns),
                    fmt::format("job {}/{} (suspend={})", ns, name, suspend)};
    const std::string path = fmt::format("/apis/batch/v1/namespaces/{}/jobs/{}", ns, name);
    std::string version(resource_version);
    for (int round = 0; round < 2; ++round) {
        json patch = {{"spec", {{"suspend", suspend}}}};
        if (!version.empty()) patch["metadata"] = {{"resourceVersion", version}};
        auto response = send(call, "PATCH", path, patch.dump(), kMergePatch);
        if (!response) return tl::unexpected(response.error());
        if (response->status == 409 && round == 0) {
            // Stale resourceVersion: read the Job again; done if someone already put it where we want it.
            auto fresh = get_job(ns, name);
            if (!fresh) return tl::unexpected(fresh.error());
            if (!*fresh) return core::fail(fmt::format("kube: {}: the Job was deleted meanwhile", call.what()));
            if ((*fresh)->suspended == suspend) return std::move(**fresh);
            version = (*fresh)->resource_version;
            continue;
        }
        if (response->status == 409) {
            return core::fail(fmt::format("kube: {}: conflict (409) twice: another writer keeps changing the Job; "
                                          "left as it is",
                                          call.what()));
        }
        if (response->status == 404) {
            return core::fail(fmt::format("kube: {}: not found (404): the Job was deleted or the namespace is wrong",
                                          call.what()));
        }
        if (response->status == 422) {
            return core::fail(fmt::format("kube: {}: refused (422): {}", call.what(), reason_of(*response)));
        }
        if (response->status != 200) {
            return core::fail(fmt::format("kube: {}: HTTP {}{}: {}", call.what(), response->status,
                                          status_reason(*response).empty() ? "" : " " + status_reason(*response),
                                          reason_of(*response)));
        }
        auto body = parse_body(*response, call.what());
        if (!body) return tl::unexpected(body.error());
        return parse_job(*body);
    }
    return core::fail(fmt::format("kube: {}: conflict (409)", call.what()));
}

}  // namespace joulepilot::act::kube
