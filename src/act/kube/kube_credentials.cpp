#include "act/kube/kube_credentials.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace joulepilot::act::kube {
namespace {

constexpr std::string_view kServiceAccountDir = "var/run/secrets/kubernetes.io/serviceaccount";

core::Result<std::string> read_file(const std::filesystem::path& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return core::fail(fmt::format("kube: {} {}: cannot read", what, path.string()));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string trim(std::string text) {
    const auto not_space = [](unsigned char c) { return c != ' ' && c != '\n' && c != '\r' && c != '\t'; };
    text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
    text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
    return text;
}

// One named entry of a kubeconfig list ("clusters", "users", "contexts"): {name: X, <kind>: {...}}.
core::Result<YAML::Node> named_entry(const YAML::Node& root, std::string_view list, std::string_view kind,
                                     const std::string& name, const std::string& where) {
    const YAML::Node entries = root[std::string(list)];
    if (entries && entries.IsSequence()) {
        for (const YAML::Node& entry : entries) {
            if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() && entry["name"].as<std::string>() == name) {
                const YAML::Node body = entry[std::string(kind)];
                if (!body || !body.IsMap())
                    return core::fail(fmt::format("{}: {} '{}' has no '{}' map", where, list, name, kind));
                return body;
            }
        }
    }
    return core::fail(fmt::format("{}: no entry named '{}' under '{}'", where, name, list));
}

std::string scalar(const YAML::Node& map, std::string_view key) {
    const YAML::Node value = map[std::string(key)];
    return value && value.IsScalar() ? value.as<std::string>() : std::string();
}

// A PEM given inline (`<key>-data`, base64) or as a file path (`<key>`, relative to the kubeconfig).
core::Result<std::string> pem_of(const YAML::Node& map, std::string_view key, const std::filesystem::path& dir,
                                 const std::string& where) {
    const std::string data = scalar(map, std::string(key) + "-data");
    if (!data.empty()) {
        const std::vector<unsigned char> bytes = YAML::DecodeBase64(data);
        if (bytes.empty())
            return core::fail(fmt::format("{}: '{}-data' is not base64", where, key));
        return std::string(bytes.begin(), bytes.end());
    }
    const std::string file = scalar(map, key);
    if (file.empty()) return std::string();
    std::filesystem::path path(file);
    if (path.is_relative()) path = dir / path;
    return read_file(path, fmt::format("{} '{}'", where, key));
}

}  // namespace

core::Result<KubeCredentials> load_in_cluster(const std::filesystem::path& root, std::string_view host,
                                              std::string_view port) {
    if (host.empty()) {
        return core::fail(
            "kube: in-cluster credentials: KUBERNETES_SERVICE_HOST is not set (not running in a pod?); "
            "pass a kubeconfig instead");
    }
    const std::filesystem::path dir = root / kServiceAccountDir;
    auto token = read_file(dir / "token", "in-cluster service-account token");
    if (!token) {
        return core::fail(token.error().message +
                          " (is automountServiceAccountToken off for this pod?)");
    }
    auto ca = read_file(dir / "ca.crt", "in-cluster CA");
    if (!ca) return tl::unexpected(ca.error());
    KubeCredentials credentials;
    const bool ipv6 = host.find(':') != std::string_view::npos;
    credentials.server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", host, ipv6 ? "]" : "",
                                     port.empty() ? std::string_view("443") : port);
    credentials.ca_pem = *ca;
    credentials.token_file = dir / "token";  // kubelet rotates it: read per request
    if (auto ns = read_file(dir / "namespace", "namespace"); ns && !trim(*ns).empty())
        credentials.default_namespace = trim(*ns);
    credentials.source = "in-cluster service account";
    return credentials;
}

core::Result<KubeCredentials> load_in_cluster_from_env(const std::filesystem::path& root) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    return load_in_cluster(root, host != nullptr ? host : "", port != nullptr ? port : "");
}

core::Result<KubeCredentials> parse_kubeconfig(std::string_view text, const std::filesystem::path& path,
                                               std::string_view context) {
    const std::string file = path.string();
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        return core::fail(fmt::format("kube: kubeconfig {}: not valid YAML: {}", file, e.what()));
    }
    if (!root.IsMap()) return core::fail(fmt::format("kube: kubeconfig {}: not a kubeconfig (no map)", file));
    try {
        std::string context_name(context);
        if (context_name.empty()) context_name = scalar(root, "current-context");
        if (context_name.empty()) {
            return core::fail(fmt::format(
                "kube: kubeconfig {}: no current-context; name one (kubectl config use-context NAME)", file));
        }
        const std::string where = fmt::format("kube: kubeconfig {}", file);
        auto ctx = named_entry(root, "contexts", "context", context_name, where);
        if (!ctx) return tl::unexpected(ctx.error());
        const std::string cluster_name = scalar(*ctx, "cluster");
        const std::string user_name = scalar(*ctx, "user");
        if (cluster_name.empty())
            return core::fail(fmt::format("{}: context '{}' names no cluster", where, context_name));
        auto cluster = named_entry(root, "clusters", "cluster", cluster_name, where);
        if (!cluster) return tl::unexpected(cluster.error());

        KubeCredentials credentials;
        credentials.source = fmt::format("kubeconfig {} (context {})", file, context_name);
        const std::string cluster_where = fmt::format("{}: cluster '{}'", where, cluster_name);
        credentials.server = scalar(*cluster, "server");
        if (credentials.server.empty()) return core::fail(cluster_where + ": no 'server'");
        if (const YAML::Node skip = (*cluster)["insecure-skip-tls-verify"]; skip && skip.IsScalar() && skip.as<bool>(false)) {
            return core::fail(cluster_where +
                              ": insecure-skip-tls-verify is set; joulepilot always verifies TLS: give the "
                              "cluster's certificate-authority instead");
        }
        const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
        auto ca = pem_of(*cluster, "certificate-authority", dir, cluster_where);
        if (!ca) return tl::unexpected(ca.error());
        credentials.ca_pem = *ca;
        const std::string ns = scalar(*ctx, "namespace");
        if (!ns.empty()) credentials.default_namespace = ns;

        if (!user_name.empty()) {
            auto user = named_entry(root, "users", "user", user_name, where);
            if (!user) return tl::unexpected(user.error());
            const std::string user_where = fmt::format("{}: user '{}'", where, user_name);
            if ((*user)["exec"] || (*user)["auth-provider"]) {
                if (scalar(*user, "token").empty() && scalar(*user, "client-certificate-data").empty() &&
                    scalar(*user, "client-certificate").empty()) {
                    return core::fail(user_where +
                                      ": exec and auth-provider plugins are not run by joulepilot; use a "
                                      "service-account token or a client certificate");
                }
            }
            credentials.token = scalar(*user, "token");
            if (const std::string token_file = scalar(*user, "tokenFile"); !token_file.empty()) {
                credentials.token_file = token_file;
                if (credentials.token_file.is_relative()) credentials.token_file = dir / credentials.token_file;
            }
            auto cert = pem_of(*user, "client-certificate", dir, user_where);
            if (!cert) return tl::unexpected(cert.error());
            auto key = pem_of(*user, "client-key", dir, user_where);
            if (!key) return tl::unexpected(key.error());
            if (cert->empty() != key->empty())
                return core::fail(user_where + ": a client certificate needs its client key (and the key its "
                                               "certificate)");
            credentials.client_cert_pem = *cert;
            credentials.client_key_pem = *key;
            if (!scalar(*user, "username").empty() && credentials.token.empty() && cert->empty())
                return core::fail(user_where + ": basic auth (username/password) is not supported; use a "
                                               "token or a client certificate");
        }
        return credentials;
    } catch (const YAML::Exception& e) {
        // A scalar where a map was expected and the like: name the file, never let it escape.
        return core::fail(fmt::format("kube: kubeconfig {}: unexpected shape: {}", file, e.what()));
    }
}

core::Result<KubeCredentials> load_kubeconfig(const std::filesystem::path& path, std::string_view context) {
    auto text = read_file(path, "kubeconfig");
    if (!text) return tl::unexpected(text.error());
    return parse_kubeconfig(*text, path, context);
}

core::Result<KubeCredentials> load_default_credentials(const std::filesystem::path& kubeconfig,
                                                       std::string_view context) {
    if (!kubeconfig.empty()) return load_kubeconfig(kubeconfig, context);
    if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST"); host != nullptr && *host != '\0')
        return load_in_cluster_from_env("/");
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
        std::string first(env);
        first = first.substr(0, first.find(':'));
        return load_kubeconfig(first, context);
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        const std::filesystem::path path = std::filesystem::path(home) / ".kube" / "config";
        if (std::filesystem::exists(path)) return load_kubeconfig(path, context);
    }
    return core::fail(
        "kube: no credentials: not in a pod (KUBERNETES_SERVICE_HOST unset), no $KUBECONFIG and no "
        "~/.kube/config; pass --kubeconfig FILE");
}

}  // namespace joulepilot::act::kube
