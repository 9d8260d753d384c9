// The API under load: serves a SnapshotAgentView that another thread updates once a second (the
// SyntheticAgentFeed test double standing in for the agent loop) on 127.0.0.1, for wrk to hit. Prints the
// URL, runs until SIGINT/SIGTERM or --seconds, then prints how long each publish (the loop's side of the
// view) took while the server was loaded: the loop must never wait for readers.
//
//   api_bench_server [--listen 127.0.0.1:0] [--threads 16] [--seconds 0] [--tick-ms 1000]
//   (scripts/bench.sh runs it and `wrk -t2 -c16 -d10s --latency <url>/v1/status` against it)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "serve/http_server.hpp"
#include "serve/snapshot_agent_view.hpp"
#include "support/synthetic_agent_feed.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    using namespace joulepilot;
    serve::HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    double seconds = 0;
    int tick_ms = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        const std::string value = argv[i + 1];
        if (key == "--listen") {
            options.listen = value;
        } else if (key == "--threads") {
            options.threads = static_cast<std::size_t>(std::stoul(value));
        } else if (key == "--seconds") {
            seconds = std::stod(value);
        } else if (key == "--tick-ms") {
            tick_ms = std::stoi(value);
        } else {
            std::fprintf(stderr, "api_bench_server: unknown option %s\n", key.c_str());
            return 2;
        }
    }
    (void)core::init_logging("warn");  // logs to stderr; stdout carries only the URL
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    serve::SnapshotAgentView view;
    serve::testing::SyntheticAgentFeed feed(view);
    for (int t = 1; t <= 600; ++t) feed.tick(t);  // ten minutes of history, as a running agent has
    serve::HttpServer server(view, options);
    if (auto started = server.start(); !started) {
        std::fprintf(stderr, "api_bench_server: %s\n", started.error().message.c_str());
        return 1;
    }
    std::printf("%s\n", server.url().c_str());
    std::fflush(stdout);

    std::vector<double> publish_us;
    std::atomic<bool> done{false};
    std::thread loop([&] {
        double t = 600;
        auto next = std::chrono::steady_clock::now();
        while (!done) {
            next += std::chrono::milliseconds(tick_ms);
            std::this_thread::sleep_until(next);
            const auto start = std::chrono::steady_clock::now();
            feed.tick(++t);
            publish_us.push_back(
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
        }
    });
    const auto begin = std::chrono::steady_clock::now();
    while (g_stop == 0 &&
           (seconds <= 0 ||
            std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() < seconds)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    server.stop();
    done = true;
    loop.join();
    if (!publish_us.empty()) {
        std::sort(publish_us.begin(), publish_us.end());
        std::fprintf(
            stderr,
            "api_bench_server: %zu ticks published under load; publish time median %.1f us, max %.1f us\n",
            publish_us.size(), publish_us[publish_us.size() / 2], publish_us.back());
    }
    return 0;
}
