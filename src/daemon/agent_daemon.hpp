#pragma once
// `joulepilot agent`: the loop as a long-running service. It wires a world (the twin, or a real node's
// sensors and actuators) to the policy, the safety shield, the ledger and the HTTP server:
//   start: open the ledger, let the shield put back what a crashed run left changed (before anything else),
//          start the HTTP server;
//   run:   tick the loop (sense every second, decide every ten by default) until stop() or the end of a
//          configured run time; after each tick run the API's commands and publish a snapshot for readers;
//   stop:  (SIGTERM/SIGINT) the shield restores every setting it changed, the ledger is flushed.
// The loop and everything it owns live on the thread that calls run(); HTTP readers see snapshots only.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "act/actuator.hpp"
#include "act/shield/shield_settings.hpp"
#include "agent/agent_loop.hpp"
#include "core/clock.hpp"
#include "learn/request_energy.hpp"
#include "ledger/ledger.hpp"
#include "serve/api_types.hpp"
#include "serve/http_server.hpp"

namespace joulepilot::daemon {

struct DaemonWorld {
    std::string name;  // "twin" | "node"
    core::Clock* clock = nullptr;
    std::vector<sense::Sensor*> sensors;
    std::vector<act::Actuator*> actuators;
    double epoch_unix_s = 0;         // the Unix time the clock's 0 stands for (0 for the system clock)
    double grams_co2_per_joule = 0;  // grid intensity for per-request receipts (estimated)
};

using PolicyFactory = std::function<core::Result<std::unique_ptr<decide::Policy>>(const serve::PolicySpec&)>;

struct DaemonSettings {
    agent::LoopSettings loop;
    act::ShieldSettings shield;
    serve::PolicySpec policy{"static", nlohmann::json::object()};
    PolicyFactory make_policy;
    std::vector<std::string> policy_names;
    std::optional<ledger::LedgerOptions> ledger;  // none: no ledger (history and receipts in memory only)
    serve::HttpServerOptions http;
    bool serve_http = true;
    learn::RequestEnergyOptions requests;
    std::optional<core::Seconds> run_for;  // stop after this much clock time (demos, tests)
};

class AgentDaemon {
public:
    // Opens the ledger, recovers the shield's saved settings, starts the HTTP server. Errors name the
    // input (ledger file, listen address, token file, policy).
    static core::Result<std::unique_ptr<AgentDaemon>> start(DaemonWorld world, DaemonSettings settings);
    ~AgentDaemon();
    AgentDaemon(const AgentDaemon&) = delete;
    AgentDaemon& operator=(const AgentDaemon&) = delete;

    // Ticks until stop() or run_for; then restores the shield's settings and flushes the ledger.
    // Returns the process exit status (0 clean, 1 when restoring failed).
    int run();
    // From any thread or a signal handler's watcher: the loop ends after its current tick.
    void stop();
    [[nodiscard]] int port() const;
    [[nodiscard]] const agent::LoopStats& stats() const;

    class Impl;

private:
    explicit AgentDaemon(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace joulepilot::daemon
