#pragma once
// Records what the loop sees and does, as it happens: samples, decisions and actions into the ledger (when
// there is one) and into the HTTP view's recent windows; the shield's audit events into the ledger's
// hash-chained audit table. Times are turned into Unix time with `epoch_unix_s` (the twin's clock counts
// from the start of its run). Loop thread only; the ledger and the view are thread-safe on their side.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "act/audit_sink.hpp"
#include "agent/agent_loop.hpp"
#include "serve/snapshot_agent_view.hpp"

namespace joulepilot::ledger {
class Ledger;
}

namespace joulepilot::daemon {

serve::ActionRecord to_api_action(const act::SettingOutcome& outcome, core::Seconds time, std::string kind,
                                  act::ShieldMode mode, std::uint64_t decision_id);

class LoopRecorder final : public agent::LoopObserver, public act::AuditSink {
public:
    LoopRecorder(ledger::Ledger* ledger, serve::SnapshotAgentView& view, double epoch_unix_s, act::ShieldMode mode);

    void on_observation(const sense::Observation& observation) override;
    void on_decision(core::Seconds time, const decide::Decision& decision, const act::ShieldReport& report) override;
    void on_shield_tick(core::Seconds time, const act::ShieldReport& report) override;
    void after_tick(core::Seconds time) override;
    void record(const act::AuditEvent& event) override;

    // A decision made on the API's request (POST /v1/optimize): recorded like a scheduled one, id returned.
    std::uint64_t record_decision(core::Seconds time, const decide::Decision& decision, const act::ShieldReport& report,
                                  const std::string& policy, const std::string& trigger_name);
    void record_actions(core::Seconds time, const act::ShieldReport& report, const std::string& kind,
                        std::uint64_t decision_id);

    std::function<void(core::Seconds)> on_after_tick;  // the daemon's per-tick work (commands, snapshot)
    std::string policy_name;                            // kept current by the daemon
    std::string trigger = "schedule";                   // "api" while the daemon runs POST /v1/optimize
    std::uint64_t last_decision_id = 0;
    std::map<std::string, std::uint64_t> actions_by_outcome;

private:
    ledger::Ledger* m_ledger;
    serve::SnapshotAgentView& m_view;
    double m_epoch_unix_s;
    act::ShieldMode m_mode;
    std::vector<std::int64_t> m_series;  // catalog index -> ledger series id (filled on the first observation)
};

}  // namespace joulepilot::daemon
