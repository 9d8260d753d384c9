#pragma once
// Shared by the remote actuator tests: a KubeClient pointed at a KubeTestDouble with a recording sleep
// (no real waiting), and the fixture folder.

#include <chrono>
#include <filesystem>
#include <vector>

#include "act/kube/kube_client.hpp"
#include "support/kube_test_double.hpp"

namespace joulepilot::act::kube::test {

inline std::filesystem::path fixtures() { return std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "kube"; }

inline KubeCredentials credentials_for(const std::string& url, std::string token = "t0ken") {
    KubeCredentials c;
    c.server = url;
    c.token = std::move(token);
    c.source = "test";
    return c;
}

// The client sleeps through this recorder: back-off is checked by value, never by waiting.
struct SleepRecorder {
    std::vector<std::chrono::milliseconds> delays;
    KubeClientOptions options(int attempts = 4) {
        KubeClientOptions o;
        o.max_attempts = attempts;
        o.initial_backoff = std::chrono::milliseconds(10);
        o.max_backoff = std::chrono::milliseconds(5000);
        o.connect_timeout = std::chrono::milliseconds(1000);
        o.timeout = std::chrono::milliseconds(3000);
        o.sleep = [this](std::chrono::milliseconds d) { delays.push_back(d); };
        return o;
    }
};

inline KubeClient make_client(const std::string& url, SleepRecorder& sleeps, int attempts = 4) {
    auto client = KubeClient::create(credentials_for(url), sleeps.options(attempts));
    if (!client) throw std::runtime_error(client.error().message);
    return std::move(*client);
}

}  // namespace joulepilot::act::kube::test
