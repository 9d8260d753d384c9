#pragma once
// AgentView: everything the HTTP server asks of the agent, and nothing about how the agent is built.
// The server (http_server.hpp) holds an AgentView& and calls it from its worker threads, several at once:
// EVERY IMPLEMENTATION MUST BE THREAD-SAFE and must not block on the control loop for longer than a
// bounded wait (the loop ticks on its own thread and must keep meeting its deadlines whatever the API
// does). Errors are ApiError values whose message a person can act on; the server turns them into JSON.
//
// Implementations: SnapshotAgentView (snapshot_agent_view.hpp, what the agent daemon uses: the loop
// publishes an immutable snapshot per tick) and the test doubles in tests/unit/serve.
//
// The three narrower interfaces below are what SnapshotAgentView needs from the rest of the agent:
//   LoopCommands      run on the loop thread (the one that owns the policy and the shield),
//   HistorySource     older observations, decisions and actions (the ledger); thread-safe,
//   RequestStore      per-request energy records and their attribution (the ledger); thread-safe.

#include <string>
#include <vector>

#include "serve/api_types.hpp"

namespace joulepilot::serve {

class AgentView {
public:
    virtual ~AgentView() = default;

    [[nodiscard]] virtual AgentStatus status() const = 0;
    [[nodiscard]] virtual LatestObservation latest_observation() const = 0;
    // Unknown signal names are an error (not_found) naming them.
    [[nodiscard]] virtual ApiResult<ObservationHistory> observations(const ObservationQuery& query) const = 0;
    // Newest last; at most query.limit records.
    [[nodiscard]] virtual ApiResult<std::vector<DecisionRecord>> decisions(
        const RecentQuery& query) const = 0;
    [[nodiscard]] virtual ApiResult<std::vector<ActionRecord>> actions(const RecentQuery& query) const = 0;

    [[nodiscard]] virtual PolicyInfo policy() const = 0;
    // Validates the whole spec; a rejection lists every problem in ApiError::details.
    virtual ApiResult<PolicyInfo> set_policy(const PolicySpec& spec) = 0;
    // Asks for a decision now (at the loop's next tick) and returns it with what the shield did.
    virtual ApiResult<OptimizeResult> optimize_now() = 0;
    // Asks the shield to restore the settings it saved before its first write.
    virtual ApiResult<RollbackResult> rollback() = 0;

    // Records were validated by the server (types, end >= start, ...); the view may still refuse a
    // duplicate id with other contents (conflict).
    virtual ApiResult<RequestsAccepted> add_requests(const std::vector<RequestRecord>& records) = 0;
    [[nodiscard]] virtual ApiResult<RequestEnergy> request_energy(const std::string& id) const = 0;
    [[nodiscard]] virtual ApiResult<std::vector<ModelEnergy>> model_energy(const ModelQuery& query) const = 0;

    [[nodiscard]] virtual MetricsSnapshot metrics() const = 0;
};

// Commands that must run where the policy and the shield live: the agent implements this and hands it
// to SnapshotAgentView::run_commands() once per tick, ON THE LOOP THREAD. Need not be thread-safe.
class LoopCommands {
public:
    virtual ~LoopCommands() = default;
    // Make a decision now with the current policy, submit it to the shield, return both.
    virtual ApiResult<OptimizeResult> optimize_now() = 0;
    virtual ApiResult<RollbackResult> rollback() = 0;
    // Validate (every problem listed in ApiError::details, code validation_failed) and switch policy.
    virtual ApiResult<PolicyInfo> set_policy(const PolicySpec& spec) = 0;
};

// Older history than the view keeps in memory (the ledger). Called from server threads: thread-safe.
class HistorySource {
public:
    virtual ~HistorySource() = default;
    [[nodiscard]] virtual ApiResult<ObservationHistory> observations(const ObservationQuery& query) const = 0;
    [[nodiscard]] virtual ApiResult<std::vector<DecisionRecord>> decisions(
        const RecentQuery& query) const = 0;
    [[nodiscard]] virtual ApiResult<std::vector<ActionRecord>> actions(const RecentQuery& query) const = 0;
};

// Per-request energy: stores posted records and answers with their attributed energy (token share of
// each measured interval, idle kept apart). Called from server threads: thread-safe.
class RequestStore {
public:
    virtual ~RequestStore() = default;
    virtual ApiResult<RequestsAccepted> add(const std::vector<RequestRecord>& records) = 0;
    [[nodiscard]] virtual ApiResult<RequestEnergy> get(const std::string& id) const = 0;
    [[nodiscard]] virtual ApiResult<std::vector<ModelEnergy>> per_model(const ModelQuery& query) const = 0;
};

}  // namespace joulepilot::serve
