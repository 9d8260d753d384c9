#pragma once
// SnapshotAgentView: the AgentView the agent daemon serves. The loop thread publishes an immutable
// AgentSnapshot once per tick (plus the decisions and actions of that tick); server threads read the
// latest snapshot through a shared_ptr copied under a mutex, so a reader never waits for a tick and a
// tick never waits for a reader longer than one pointer copy. Recent observations, decisions and
// actions are kept in bounded in-memory windows; older ones come from the HistorySource (the ledger)
// when one is given.
//
// Commands (POST /v1/optimize, POST /v1/rollback, PUT /v1/policy) must run on the loop thread: a server
// thread queues the command (at most `max_pending_commands`) and waits up to `command_timeout` for the
// loop to run it in run_commands(). A command the loop has not started by then is abandoned (never run
// later) and the caller gets `unavailable` saying so.
//
// Thread-safety: every AgentView method is safe from any thread. publish(), add_decision(),
// add_actions() and run_commands() are for the loop thread (one thread); close() from any thread.
//
// Wiring in the agent (a sketch):
//   serve::SnapshotAgentView view({}, ledger_history, request_store);   // both may be null
//   serve::HttpServer server(view, options);  server.start();
//   every tick, on the loop thread:
//       view.run_commands(my_loop_commands);          // optimize / rollback / set policy
//       view.add_decision(...); view.add_actions(...); // what this tick decided and did
//       view.publish({status, policy, observation});
//   on shutdown: server.stop(); view.close("agent stopping");

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sense/observation.hpp"
#include "serve/agent_view.hpp"

namespace joulepilot::serve {

struct AgentSnapshot {
    AgentStatus status;
    PolicyInfo policy;
    std::shared_ptr<const sense::Observation> observation;  // the latest; null before the first tick
};

struct SnapshotAgentViewOptions {
    std::size_t history = 3600;    // observations kept in memory (an hour at 1 s sensing)
    std::size_t decisions = 1000;  // decisions kept in memory
    std::size_t actions = 5000;    // actions kept in memory
    std::size_t max_pending_commands = 8;
    std::chrono::milliseconds command_timeout{10000};  // a decide interval and then some
};

class SnapshotAgentView final : public AgentView {
public:
    // `history` and `requests` are not owned and may be null (then older history is not served and the
    // per-request routes answer `unavailable`); they must outlive the view.
    explicit SnapshotAgentView(SnapshotAgentViewOptions options = {}, const HistorySource* history = nullptr,
                               RequestStore* requests = nullptr);
    ~SnapshotAgentView() override;
    SnapshotAgentView(const SnapshotAgentView&) = delete;
    SnapshotAgentView& operator=(const SnapshotAgentView&) = delete;

    // ---- loop thread ----
    // Replaces the snapshot; appends its observation (if new) to the in-memory history.
    void publish(AgentSnapshot snapshot);
    // An id of 0 is replaced by the next free one; returns the id used.
    std::uint64_t add_decision(DecisionRecord decision);
    void add_actions(std::vector<ActionRecord> actions);
    // Runs every queued command on the calling (loop) thread; returns how many ran. A successful
    // set_policy also updates the published snapshot's policy at once.
    std::size_t run_commands(LoopCommands& commands);

    // ---- any thread ----
    // Fails every queued and later command with `unavailable` and `reason` (e.g. "the agent is stopping").
    void close(std::string reason);
    // Commands queued and not yet taken by the loop.
    [[nodiscard]] std::size_t pending_commands() const;

    // ---- AgentView ----
    [[nodiscard]] AgentStatus status() const override;
    [[nodiscard]] LatestObservation latest_observation() const override;
    [[nodiscard]] ApiResult<ObservationHistory> observations(const ObservationQuery& query) const override;
    [[nodiscard]] ApiResult<std::vector<DecisionRecord>> decisions(const RecentQuery& query) const override;
    [[nodiscard]] ApiResult<std::vector<ActionRecord>> actions(const RecentQuery& query) const override;
    [[nodiscard]] PolicyInfo policy() const override;
    ApiResult<PolicyInfo> set_policy(const PolicySpec& spec) override;
    ApiResult<OptimizeResult> optimize_now() override;
    ApiResult<RollbackResult> rollback() override;
    ApiResult<RequestsAccepted> add_requests(const std::vector<RequestRecord>& records) override;
    [[nodiscard]] ApiResult<RequestEnergy> request_energy(const std::string& id) const override;
    [[nodiscard]] ApiResult<std::vector<ModelEnergy>> model_energy(const ModelQuery& query) const override;
    [[nodiscard]] MetricsSnapshot metrics() const override;

private:
    struct Command;
    template <class T>
    ApiResult<T> submit(std::shared_ptr<Command> command);
    [[nodiscard]] std::shared_ptr<const AgentSnapshot> snapshot() const;

    SnapshotAgentViewOptions m_options;
    const HistorySource* m_history_source;
    RequestStore* m_requests;

    mutable std::mutex m_snapshot_mutex;
    std::shared_ptr<const AgentSnapshot> m_snapshot;

    mutable std::mutex m_history_mutex;  // guards the three windows below
    std::deque<std::shared_ptr<const sense::Observation>> m_observations;
    std::deque<DecisionRecord> m_decisions;
    std::deque<ActionRecord> m_actions;
    // Time of the newest record dropped from each window: a query reaching back to it needs the source.
    std::optional<core::Seconds> m_decisions_evicted_until;
    std::optional<core::Seconds> m_actions_evicted_until;
    std::uint64_t m_next_decision_id = 1;
    std::uint64_t m_next_action_id = 1;

    mutable std::mutex m_command_mutex;  // guards the queue and the closed state
    std::deque<std::shared_ptr<Command>> m_commands;
    bool m_closed = false;
    std::string m_closed_reason;
    std::uint64_t m_next_command_id = 1;
};

}  // namespace joulepilot::serve
