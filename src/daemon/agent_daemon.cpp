#include "daemon/agent_daemon.hpp"

#include <chrono>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "act/shield/safety_shield.hpp"
#include "daemon/ledger_history.hpp"
#include "daemon/loop_recorder.hpp"
#include "daemon/request_store.hpp"
#include "serve/snapshot_agent_view.hpp"

namespace joulepilot::daemon {

namespace {

serve::ApiError api_error(serve::ErrorCode code, std::string message) { return serve::ApiError{code, std::move(message), {}}; }

}  // namespace

class AgentDaemon::Impl final : public serve::LoopCommands {
public:
    Impl(DaemonWorld world, DaemonSettings settings) : m_world(std::move(world)), m_settings(std::move(settings)) {}

    core::Result<void> start() {
        if (m_settings.ledger) {
            auto opened = ledger::Ledger::open(*m_settings.ledger);
            if (!opened) return core::fail(opened.error().message);
            m_ledger = std::move(*opened);
            m_history.emplace(m_ledger->reader());
        }
        m_requests = std::make_unique<RequestEnergyStore>(m_settings.requests, m_world.grams_co2_per_joule, m_ledger.get());
        m_view = std::make_unique<serve::SnapshotAgentView>(serve::SnapshotAgentViewOptions{},
                                                            m_history ? &*m_history : nullptr, m_requests.get());
        m_recorder = std::make_unique<LoopRecorder>(m_ledger.get(), *m_view, m_world.epoch_unix_s, m_settings.shield.mode);
        m_shield = std::make_unique<act::SafetyShield>(m_world.actuators, m_settings.shield, m_recorder.get());

        // Before anything else: put back what an earlier run left changed (it was killed, or lost power).
        const core::Seconds now = m_world.clock->now();
        if (auto recovered = m_shield->recover(now); !recovered) {
            spdlog::error("agent: {}; the shield will not write until this is resolved (joulepilot restore)",
                          recovered.error().message);
        } else if (!recovered->outcomes.empty()) {
            spdlog::warn("agent: restored {} setting(s) an earlier run left changed", recovered->outcomes.size());
            m_recorder->record_actions(now, *recovered, "restore", 0);
        }

        auto policy = m_settings.make_policy(m_settings.policy);
        if (!policy) return core::fail("policy: " + policy.error().message);
        m_policy = std::move(*policy);
        m_recorder->policy_name = std::string(m_policy->name());
        m_loop = std::make_unique<agent::AgentLoop>(*m_world.clock, m_world.sensors, *m_shield, *m_policy,
                                                    m_settings.loop, m_recorder.get());
        m_recorder->on_after_tick = [this](core::Seconds t) { after_tick(t); };
        m_started_at = core::Seconds(m_world.epoch_unix_s) + now;
        publish(now);

        if (m_settings.serve_http) {
            m_server = std::make_unique<serve::HttpServer>(*m_view, m_settings.http);
            if (auto started = m_server->start(); !started) return started;
            spdlog::info("agent: serving {} (API, /metrics, dashboard)", m_server->url());
        }
        return {};
    }

    int run() {
        const core::Seconds start = m_world.clock->now();
        const core::Seconds end = m_settings.run_for ? start + *m_settings.run_for : core::Seconds(1e18);
        m_loop->run_until(end);
        return shutdown();
    }

    int shutdown() {
        int status = 0;
        if (m_view) m_view->close("the agent is stopping");
        if (m_server) m_server->stop();
        if (m_shield) {
            const core::Seconds now = m_world.clock->now();
            const act::ShieldReport report = m_shield->restore_all(now, "agent stopping");
            if (report.count(act::Outcome::failed) > 0) {
                spdlog::error("agent: some settings could not be restored; run `joulepilot restore`");
                status = 1;
            }
            m_recorder->record_actions(now, report, "restore", 0);
        }
        if (m_ledger) {
            if (auto flushed = m_ledger->flush(std::chrono::seconds(10)); !flushed) {
                spdlog::error("agent: ledger: {}", flushed.error().message);
            }
        }
        return status;
    }

    void stop() {
        if (m_loop) m_loop->stop();
    }

    // ---- serve::LoopCommands (on the loop thread, after a tick) ----
    serve::ApiResult<serve::OptimizeResult> optimize_now() override {
        const core::Seconds now = m_world.clock->now();
        m_recorder->trigger = "api";
        auto [decision, report] = m_loop->decide_now(now);
        m_recorder->trigger = "schedule";
        serve::OptimizeResult result;
        result.decision.id = m_recorder->last_decision_id;
        result.decision.time = now + core::Seconds(m_world.epoch_unix_s);
        result.decision.policy = m_recorder->policy_name;
        result.decision.trigger = "api";
        result.decision.rationale = decision.rationale;
        for (const auto& s : decision.settings) result.decision.settings.push_back({s.knob, s.value});
        for (const auto& o : report.outcomes) {
            result.actions.push_back(to_api_action(o, result.decision.time, "apply", m_settings.shield.mode, result.decision.id));
        }
        return result;
    }

    serve::ApiResult<serve::RollbackResult> rollback() override {
        const core::Seconds now = m_world.clock->now();
        const act::ShieldReport report = m_shield->restore_all(now, "operator rollback (POST /v1/rollback)");
        m_recorder->record_actions(now, report, "restore", 0);
        serve::RollbackResult result;
        for (const auto& o : report.outcomes) {
            result.actions.push_back(to_api_action(o, now + core::Seconds(m_world.epoch_unix_s), "restore",
                                                   m_settings.shield.mode, 0));
        }
        result.message = report.outcomes.empty() ? "nothing to restore: no setting was changed"
                                                 : fmt::format("restored {} setting(s)", report.outcomes.size());
        return result;
    }

    serve::ApiResult<serve::PolicyInfo> set_policy(const serve::PolicySpec& spec) override {
        auto policy = m_settings.make_policy(spec);
        if (!policy) {
            return tl::unexpected(api_error(serve::ErrorCode::validation_failed, policy.error().message));
        }
        m_policy = std::move(*policy);  // the old one is not referenced after this line
        m_loop->set_policy(*m_policy);
        m_recorder->policy_name = std::string(m_policy->name());
        m_settings.policy = spec;
        return policy_info();
    }

    [[nodiscard]] serve::PolicyInfo policy_info() const {
        return serve::PolicyInfo{m_recorder->policy_name, m_settings.policy.params, m_settings.policy_names};
    }

    void after_tick(core::Seconds now) {
        if (!m_loop->window().empty()) m_requests->observe(m_loop->window().latest());
        m_view->run_commands(*this);
        publish(now);
    }

    void publish(core::Seconds now) {
        serve::AgentSnapshot snapshot;
        serve::AgentStatus& s = snapshot.status;
        s.version = JOULEPILOT_VERSION;
        s.world = m_world.name;
        s.policy = m_recorder->policy_name;
        s.shield_mode = m_settings.shield.mode == act::ShieldMode::dry_run ? "dry_run"
                                                                           : std::string(act::to_string(m_settings.shield.mode));
        s.started_at = m_started_at;
        s.now = now + core::Seconds(m_world.epoch_unix_s);
        s.uptime = s.now - m_started_at;
        s.sense_interval = m_settings.loop.sense_interval;
        s.decide_interval = m_settings.loop.decide_interval;
        if (m_loop) {
            const agent::LoopStats& stats = m_loop->stats();
            s.ticks = stats.ticks;
            s.tick_deadline_misses = stats.deadline_misses;
            if (stats.ticks > 0) s.last_tick = stats.last_tick + core::Seconds(m_world.epoch_unix_s);
            s.decisions = stats.decisions;
            s.rollbacks = m_shield->counters().rollbacks;
            s.sensor_errors = stats.sensor_errors;
            s.signals = m_loop->catalog().size();
            if (!m_loop->window().empty()) {
                auto observation = std::make_shared<sense::Observation>(m_loop->window().latest());
                for (const auto& sample : observation->samples()) s.signals_missing += sample.valid ? 0 : 1;
                observation->time = observation->time + core::Seconds(m_world.epoch_unix_s);
                // Efficiency from the service's own signals, when the world has them (derived).
                const auto power = observation->get("fleet.power_watts");
                auto tokens = observation->get("service.throughput_tokens_per_second");
                if (!tokens) tokens = observation->get("service.output_tokens_per_second");
                if (power && tokens && *tokens > 0) {
                    s.efficiency.energy_per_token_joules = *power / *tokens;
                    s.efficiency.tokens_per_joule = *tokens / std::max(*power, 1e-9);
                }
                snapshot.observation = std::move(observation);
            }
        }
        s.actions_by_outcome = m_recorder->actions_by_outcome;
        if (m_ledger) {
            const ledger::LedgerStats l = m_ledger->stats();
            s.ledger = {true, l.written, l.dropped, l.write_errors, l.queue_depth, l.queue_capacity, l.last_error};
        }
        std::map<std::string, const act::KnobStatus*> shield_status;
        const std::vector<act::KnobStatus> statuses = m_shield->status();
        for (const act::KnobStatus& st : statuses) shield_status[st.knob] = &st;
        for (const act::Knob& k : m_shield->knob_space().knobs()) {
            serve::KnobValue value;
            value.name = k.name;
            value.unit = k.unit;
            value.value = k.current;
            value.default_value = k.default_value;
            value.min = k.domain.min;
            value.max = k.domain.max;
            if (const auto it = shield_status.find(k.name); it != shield_status.end() && it->second->disabled) {
                value.disabled = true;
                value.disabled_reason = it->second->disabled_reason;
            }
            s.knobs.push_back(std::move(value));
        }
        snapshot.policy = policy_info();
        m_view->publish(std::move(snapshot));
    }

    [[nodiscard]] int port() const { return m_server ? m_server->port() : 0; }
    [[nodiscard]] const agent::LoopStats& stats() const { return m_loop->stats(); }

private:
    DaemonWorld m_world;
    DaemonSettings m_settings;
    std::unique_ptr<ledger::Ledger> m_ledger;
    std::optional<LedgerHistory> m_history;
    std::unique_ptr<RequestEnergyStore> m_requests;
    std::unique_ptr<serve::SnapshotAgentView> m_view;
    std::unique_ptr<LoopRecorder> m_recorder;
    std::unique_ptr<act::SafetyShield> m_shield;
    std::unique_ptr<decide::Policy> m_policy;
    std::unique_ptr<agent::AgentLoop> m_loop;
    std::unique_ptr<serve::HttpServer> m_server;
    core::Seconds m_started_at{0};
};

core::Result<std::unique_ptr<AgentDaemon>> AgentDaemon::start(DaemonWorld world, DaemonSettings settings) {
    if (world.clock == nullptr) return core::fail("agent: the world has no clock");
    if (!settings.make_policy) return core::fail("agent: no policy factory");
    auto impl = std::make_unique<Impl>(std::move(world), std::move(settings));
    if (auto started = impl->start(); !started) {
        impl->shutdown();
        return core::fail(started.error().message);
    }
    return std::unique_ptr<AgentDaemon>(new AgentDaemon(std::move(impl)));
}

AgentDaemon::AgentDaemon(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
AgentDaemon::~AgentDaemon() = default;
int AgentDaemon::run() { return m_impl->run(); }
void AgentDaemon::stop() { m_impl->stop(); }
int AgentDaemon::port() const { return m_impl->port(); }
const agent::LoopStats& AgentDaemon::stats() const { return m_impl->stats(); }

}  // namespace joulepilot::daemon
