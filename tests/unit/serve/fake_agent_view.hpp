#pragma once
// Test double: an AgentView with fixed, hand-set data that records every call it gets (thread-safe: the
// server calls it from its worker threads). Each test sets the data and the answers it needs.

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "serve/agent_view.hpp"

namespace joulepilot::serve::testing {

class FakeAgentView final : public AgentView {
public:
    FakeAgentView() {
        m_status.version = "0.1.0";
        m_status.world = "twin";
        m_status.policy = "threshold";
        m_status.shield_mode = "dry_run";
        m_status.uptime = core::Seconds(125);
        m_status.now = core::Seconds(1000);
        m_status.ticks = 125;
        m_status.tick_deadline_misses = 2;
        m_status.last_tick = core::Seconds(1000);
        m_status.decisions = 12;
        m_status.rollbacks = 1;
        m_status.actions_by_outcome = {{"applied", 7}, {"refused", 1}};
        m_status.sensor_errors = {{"nvml", 3}, {"rapl", 0}};
        m_status.signals = 4;
        m_status.signals_missing = 1;
        m_status.ledger = {true, 5000, 4, 1, 12, 65536, "disk full"};
        m_status.knobs = {{"gpu.0.power_limit_watts", "W", 600, 700, 200, 700, false, ""},
                          {"replica.0.batch_cap", "requests", 128, 256, 8, 512, true, "2 failed writes in a row"}};
        m_status.efficiency.energy_per_token_joules = 0.42;
        m_status.efficiency.tokens_per_joule = 1 / 0.42;
        m_status.efficiency.estimated_savings_joules_total = 12345.0;
        m_latest.time = core::Seconds(1000);
        m_latest.signals = {{"gpu.0.power_watts", "W", "derived", 412.5},
                            {"gpu.0.energy_joules_total", "J", "measured", 51234.0},
                            {"cpu.0.package_energy_joules_total", "J", "measured", 8000.0},
                            {"service.slo_attainment_ratio", "ratio", "measured", std::nullopt}};
        m_policy = {"threshold", {{"util_low", 0.3}}, {"static", "threshold", "idle-fsm"}};
        DecisionRecord d;
        d.id = 1;
        d.time = core::Seconds(990);
        d.policy = "threshold";
        d.settings = {{"gpu.0.power_limit_watts", 600}};
        d.rationale = "utilisation 12% < 30% for 3 samples: lower the power limit";
        d.predicted_power_watts = 380.0;
        m_decisions = {d};
        ActionRecord a;
        a.id = 1;
        a.decision_id = 1;
        a.time = core::Seconds(990);
        a.shield_mode = "dry_run";
        a.knob = "gpu.0.power_limit_watts";
        a.requested = 600;
        a.before = 700;
        a.after = 700;
        a.outcome = "not_written";
        m_actions = {a};
    }

    // ---- answers the tests set (before the server starts) ----
    ApiResult<PolicyInfo> set_policy_answer = PolicyInfo{"idle-fsm", nlohmann::json::object(), {}};
    ApiResult<OptimizeResult> optimize_answer = OptimizeResult{};
    ApiResult<RollbackResult> rollback_answer = RollbackResult{7, {}, "restored 2 knobs"};
    ApiResult<RequestsAccepted> add_requests_answer = RequestsAccepted{};  // accepted = records posted
    std::function<void()> optimize_hook;  // runs inside optimize_now (e.g. to hold a request in flight)

    // ---- what the server asked ----
    std::atomic<int> optimize_calls{0};
    std::atomic<int> rollback_calls{0};
    std::atomic<int> set_policy_calls{0};
    std::atomic<int> add_requests_calls{0};

    std::vector<RequestRecord> posted() const {
        std::lock_guard lock(m_mutex);
        return m_posted;
    }
    ObservationQuery last_observation_query() const {
        std::lock_guard lock(m_mutex);
        return m_last_query;
    }
    RecentQuery last_recent_query() const {
        std::lock_guard lock(m_mutex);
        return m_last_recent;
    }
    PolicySpec last_policy_spec() const {
        std::lock_guard lock(m_mutex);
        return m_last_spec;
    }

    AgentStatus status() const override { return m_status; }
    LatestObservation latest_observation() const override { return m_latest; }
    ApiResult<ObservationHistory> observations(const ObservationQuery& query) const override {
        {
            std::lock_guard lock(m_mutex);
            m_last_query = query;
        }
        ObservationHistory out;
        out.source = "memory";
        out.oldest_available = core::Seconds(900);
        for (const auto& name : query.signals) {
            if (name != "gpu.0.power_watts")
                return api_fail(ErrorCode::not_found, "unknown signal '" + name + "'");
            out.series.push_back({name,
                                  "W",
                                  "derived",
                                  {{core::Seconds(999), 400.0}, {core::Seconds(1000), std::nullopt}},
                                  false});
        }
        return out;
    }
    ApiResult<std::vector<DecisionRecord>> decisions(const RecentQuery& query) const override {
        std::lock_guard lock(m_mutex);
        m_last_recent = query;
        return m_decisions;
    }
    ApiResult<std::vector<ActionRecord>> actions(const RecentQuery& query) const override {
        std::lock_guard lock(m_mutex);
        m_last_recent = query;
        return m_actions;
    }
    PolicyInfo policy() const override { return m_policy; }
    ApiResult<PolicyInfo> set_policy(const PolicySpec& spec) override {
        ++set_policy_calls;
        std::lock_guard lock(m_mutex);
        m_last_spec = spec;
        return set_policy_answer;
    }
    ApiResult<OptimizeResult> optimize_now() override {
        ++optimize_calls;
        if (optimize_hook) optimize_hook();
        return optimize_answer;
    }
    ApiResult<RollbackResult> rollback() override {
        ++rollback_calls;
        return rollback_answer;
    }
    ApiResult<RequestsAccepted> add_requests(const std::vector<RequestRecord>& records) override {
        ++add_requests_calls;
        std::lock_guard lock(m_mutex);
        m_posted.insert(m_posted.end(), records.begin(), records.end());
        if (add_requests_answer && add_requests_answer->accepted == 0) {
            return RequestsAccepted{records.size(), 0};
        }
        return add_requests_answer;
    }
    ApiResult<RequestEnergy> request_energy(const std::string& id) const override {
        if (id != "req-1") return api_fail(ErrorCode::not_found, "no request '" + id + "'");
        RequestEnergy e;
        e.request = {"req-1", core::Seconds(10), core::Seconds(12), 100, 50, "llama-3.1-8b", {0}};
        e.status = "attributed";
        e.energy_joules = 21.0;
        e.joules_per_token = 0.42;
        e.grams_co2 = 0.0012;
        return e;
    }
    ApiResult<std::vector<ModelEnergy>> model_energy(const ModelQuery& query) const override {
        ModelEnergy m{"llama-3.1-8b", 10, 1000, 500, 210.0, 0.42, 21.0, 0.012, "derived"};
        if (query.model && *query.model != m.model) return std::vector<ModelEnergy>{};
        return std::vector<ModelEnergy>{m};
    }
    MetricsSnapshot metrics() const override {
        MetricsSnapshot out;
        out.status = m_status;
        out.signals = m_latest.signals;
        out.models = *model_energy({});
        return out;
    }

private:
    AgentStatus m_status;
    LatestObservation m_latest;
    PolicyInfo m_policy;
    std::vector<DecisionRecord> m_decisions;
    std::vector<ActionRecord> m_actions;
    mutable std::mutex m_mutex;
    mutable ObservationQuery m_last_query;
    mutable RecentQuery m_last_recent;
    PolicySpec m_last_spec;
    std::vector<RequestRecord> m_posted;
};

}  // namespace joulepilot::serve::testing
