#pragma once
// Where the Kubernetes API server is and how to prove who we are: the in-cluster service account
// (/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace} and KUBERNETES_SERVICE_HOST/PORT)
// or a kubeconfig file (its current context, or a named one: server, certificate-authority(-data), token
// or token-file, client-certificate(-data) and client-key(-data)). Read once at start by whoever builds a
// KubeClient (the agent's wiring, `joulepilot schedule run --kube`).
//
// Errors name the file and the entry and say what to fix. Exec and auth-provider plugins (cloud logins)
// are not run: the message says to use a token or a client certificate instead.

#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace joulepilot::act::kube {

struct KubeCredentials {
    std::string server;     // "https://10.96.0.1:443"
    std::string ca_pem;     // empty: verify against the system CA store
    std::string token;      // a static bearer token
    std::filesystem::path token_file;  // re-read per request (service-account tokens rotate)
    std::string client_cert_pem;
    std::string client_key_pem;
    std::string default_namespace = "default";
    std::string source;     // for messages: "in-cluster service account", "kubeconfig ~/.kube/config (context x)"
};

// `root` replaces "/" (tests point it at a fixture tree); host and port are KUBERNETES_SERVICE_HOST/PORT.
core::Result<KubeCredentials> load_in_cluster(const std::filesystem::path& root, std::string_view host,
                                              std::string_view port);
// The same with host and port from the environment.
core::Result<KubeCredentials> load_in_cluster_from_env(const std::filesystem::path& root = "/");

// `context` empty: the file's current-context. Relative file paths in the kubeconfig are relative to it.
core::Result<KubeCredentials> load_kubeconfig(const std::filesystem::path& path, std::string_view context = {});
core::Result<KubeCredentials> parse_kubeconfig(std::string_view text, const std::filesystem::path& path,
                                               std::string_view context = {});

// What a user most likely means: the kubeconfig given; else in-cluster when KUBERNETES_SERVICE_HOST is set;
// else $KUBECONFIG (its first file); else ~/.kube/config.
core::Result<KubeCredentials> load_default_credentials(const std::filesystem::path& kubeconfig = {},
                                                       std::string_view context = {});

}  // namespace joulepilot::act::kube
