#include "serve/snapshot_agent_view.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace joulepilot::serve {

struct SnapshotAgentView::Command {
    enum class Kind : std::uint8_t { optimize, rollback, set_policy };
    enum class State : std::uint8_t { pending, running, done, abandoned };

    Kind kind = Kind::optimize;
    std::string_view what;  // for messages: "optimize", "rollback", "set policy"
    PolicySpec spec;
    std::uint64_t id = 0;

    std::mutex mutex;
    std::condition_variable done;
    State state = State::pending;
    std::variant<std::monostate, ApiResult<OptimizeResult>, ApiResult<RollbackResult>, ApiResult<PolicyInfo>>
        result;
};

namespace {

template <class Record>
std::vector<Record> recent(const std::deque<Record>& window, const RecentQuery& query) {
    std::vector<Record> out;
    // Newest `limit` records strictly after `since`, returned oldest first.
    for (auto it = window.rbegin(); it != window.rend() && out.size() < query.limit; ++it) {
        if (query.since && it->time <= *query.since) break;
        out.push_back(*it);
    }
    std::reverse(out.begin(), out.end());
    return out;
}

// The in-memory window answers when it cannot have lost a matching record.
template <class Record>
bool window_covers(const std::deque<Record>& window, const std::optional<core::Seconds>& evicted_until,
                   const RecentQuery& query) {
    if (!evicted_until) return true;
    if (window.size() >= query.limit) return true;  // the newest `limit` are all here
    return query.since && *query.since >= *evicted_until;
}

}  // namespace

SnapshotAgentView::SnapshotAgentView(SnapshotAgentViewOptions options, const HistorySource* history,
                                     RequestStore* requests)
    : m_options(options),
      m_history_source(history),
      m_requests(requests),
      m_snapshot(std::make_shared<const AgentSnapshot>()) {}

SnapshotAgentView::~SnapshotAgentView() { close("the agent is stopping"); }

void SnapshotAgentView::publish(AgentSnapshot snapshot) {
    auto next = std::make_shared<const AgentSnapshot>(std::move(snapshot));
    if (next->observation) {
        std::lock_guard lock(m_history_mutex);
        if (m_observations.empty() || m_observations.back() != next->observation) {
            m_observations.push_back(next->observation);
            while (m_observations.size() > m_options.history) m_observations.pop_front();
        }
    }
    std::lock_guard lock(m_snapshot_mutex);
    m_snapshot = std::move(next);
}

std::uint64_t SnapshotAgentView::add_decision(DecisionRecord decision) {
    std::lock_guard lock(m_history_mutex);
    if (decision.id == 0) decision.id = m_next_decision_id;
    m_next_decision_id = std::max(m_next_decision_id, decision.id + 1);
    const std::uint64_t id = decision.id;
    m_decisions.push_back(std::move(decision));
    while (m_decisions.size() > m_options.decisions) {
        m_decisions_evicted_until =
            std::max(m_decisions_evicted_until.value_or(m_decisions.front().time), m_decisions.front().time);
        m_decisions.pop_front();
    }
    return id;
}

void SnapshotAgentView::add_actions(std::vector<ActionRecord> actions) {
    std::lock_guard lock(m_history_mutex);
    for (ActionRecord& action : actions) {
        if (action.id == 0) action.id = m_next_action_id;
        m_next_action_id = std::max(m_next_action_id, action.id + 1);
        m_actions.push_back(std::move(action));
    }
    while (m_actions.size() > m_options.actions) {
        m_actions_evicted_until =
            std::max(m_actions_evicted_until.value_or(m_actions.front().time), m_actions.front().time);
        m_actions.pop_front();
    }
}

std::size_t SnapshotAgentView::run_commands(LoopCommands& commands) {
    std::deque<std::shared_ptr<Command>> queue;
    {
        std::lock_guard lock(m_command_mutex);
        queue.swap(m_commands);
    }
    std::size_t ran = 0;
    for (const auto& command : queue) {
        {
            std::lock_guard lock(command->mutex);
            if (command->state == Command::State::abandoned) continue;
            command->state = Command::State::running;
        }
        // No exception leaves a tick: one thrown by the agent's command becomes an internal error.
        decltype(command->result) result;
        try {
            switch (command->kind) {
                case Command::Kind::optimize:
                    result = commands.optimize_now();
                    break;
                case Command::Kind::rollback:
                    result = commands.rollback();
                    break;
                case Command::Kind::set_policy:
                    result = commands.set_policy(command->spec);
                    break;
            }
        } catch (const std::exception& e) {
            const ApiError error{ErrorCode::internal,
                                 fmt::format("{} failed in the control loop: {}", command->what, e.what()),
                                 {}};
            switch (command->kind) {
                case Command::Kind::optimize:
                    result = ApiResult<OptimizeResult>(tl::unexpected(error));
                    break;
                case Command::Kind::rollback:
                    result = ApiResult<RollbackResult>(tl::unexpected(error));
                    break;
                case Command::Kind::set_policy:
                    result = ApiResult<PolicyInfo>(tl::unexpected(error));
                    break;
            }
        }
        if (const auto* policy = std::get_if<ApiResult<PolicyInfo>>(&result); policy && policy->has_value()) {
            // GET /v1/policy must show the new policy as soon as PUT returned, not at the next publish.
            auto current = snapshot();
            AgentSnapshot next = *current;
            next.policy = **policy;
            next.status.policy = (*policy)->name;
            std::lock_guard lock(m_snapshot_mutex);
            m_snapshot = std::make_shared<const AgentSnapshot>(std::move(next));
        }
        {
            std::lock_guard lock(command->mutex);
            command->result = std::move(result);
            command->state = Command::State::done;
        }
        command->done.notify_all();
        ++ran;
    }
    return ran;
}

void SnapshotAgentView::close(std::string reason) {
    std::deque<std::shared_ptr<Command>> queue;
    {
        std::lock_guard lock(m_command_mutex);
        m_closed = true;
        m_closed_reason = std::move(reason);
        queue.swap(m_commands);
    }
    for (const auto& command : queue) {
        {
            std::lock_guard lock(command->mutex);
            if (command->state != Command::State::pending) continue;
            command->state = Command::State::abandoned;
        }
        command->done.notify_all();
    }
}

std::size_t SnapshotAgentView::pending_commands() const {
    std::lock_guard lock(m_command_mutex);
    return m_commands.size();
}

template <class T>
ApiResult<T> SnapshotAgentView::submit(std::shared_ptr<Command> command) {
    const std::string_view what = command->what;
    {
        std::lock_guard lock(m_command_mutex);
        if (m_closed) {
            return api_fail(ErrorCode::unavailable, fmt::format("{} refused: {}", what, m_closed_reason));
        }
        if (m_commands.size() >= m_options.max_pending_commands) {
            return api_fail(
                ErrorCode::unavailable,
                fmt::format("{} refused: {} commands already wait for the control loop; retry in a "
                            "few seconds",
                            what, m_commands.size()));
        }
        command->id = m_next_command_id++;
        m_commands.push_back(command);
    }
    std::unique_lock lock(command->mutex);
    const auto finished = [&] {
        return command->state == Command::State::done || command->state == Command::State::abandoned;
    };
    if (!command->done.wait_for(lock, m_options.command_timeout, finished)) {
        if (command->state == Command::State::pending) {
            command->state = Command::State::abandoned;
            return api_fail(
                ErrorCode::unavailable,
                fmt::format("{} not done: the control loop did not take the command within {} ms, so "
                            "it was dropped and nothing changed; check that the agent is ticking "
                            "(GET /v1/status: last_tick) and retry",
                            what, m_options.command_timeout.count()));
        }
        // Running: the loop has it; its own work bounds the wait.
        command->done.wait(lock, finished);
    }
    if (command->state == Command::State::abandoned) {
        std::lock_guard closed_lock(m_command_mutex);
        return api_fail(ErrorCode::unavailable, fmt::format("{} not done: {}", what, m_closed_reason));
    }
    ApiResult<T> result = std::get<ApiResult<T>>(std::move(command->result));
    if constexpr (std::is_same_v<T, OptimizeResult> || std::is_same_v<T, RollbackResult>) {
        if (result) result->command_id = command->id;
    }
    return result;
}

std::shared_ptr<const AgentSnapshot> SnapshotAgentView::snapshot() const {
    std::lock_guard lock(m_snapshot_mutex);
    return m_snapshot;
}

AgentStatus SnapshotAgentView::status() const { return snapshot()->status; }

LatestObservation SnapshotAgentView::latest_observation() const {
    const auto current = snapshot();
    LatestObservation out;
    if (!current->observation) return out;
    const sense::Observation& obs = *current->observation;
    out.time = obs.time;
    const sense::SignalCatalog& catalog = obs.catalog();
    out.signals.reserve(catalog.size());
    for (std::size_t i = 0; i < catalog.size(); ++i) {
        const sense::SignalInfo& info = catalog.info(i);
        out.signals.push_back(
            {info.name, info.unit, std::string(sense::to_string(info.provenance)), obs.get(i)});
    }
    return out;
}

ApiResult<ObservationHistory> SnapshotAgentView::observations(const ObservationQuery& query) const {
    std::deque<std::shared_ptr<const sense::Observation>> window;
    {
        std::lock_guard lock(m_history_mutex);
        window = m_observations;  // shared_ptr copies: the observations themselves are immutable
    }
    if (window.empty()) {
        if (m_history_source) return m_history_source->observations(query);
        return api_fail(ErrorCode::unavailable,
                        "no observation yet: the agent has not completed its first tick; retry in a second");
    }
    const auto oldest = window.front()->time;
    if (m_history_source && query.from && *query.from < oldest) return m_history_source->observations(query);

    const sense::SignalCatalog& catalog = window.back()->catalog();
    ObservationHistory out;
    out.source = "memory";
    out.oldest_available = oldest;
    std::vector<std::string> unknown;
    for (const std::string& name : query.signals) {
        const auto index = catalog.find(name);
        if (!index) {
            unknown.push_back(name);
            continue;
        }
        const sense::SignalInfo& info = catalog.info(*index);
        ObservationSeries series{
            info.name, info.unit, std::string(sense::to_string(info.provenance)), {}, false};
        // Newest first up to the limit, then reversed: the newest points matter most to a dashboard.
        for (auto it = window.rbegin(); it != window.rend(); ++it) {
            const sense::Observation& obs = **it;
            if (query.to && obs.time > *query.to) continue;
            if (query.from && obs.time < *query.from) break;
            if (series.points.size() == query.limit) {
                series.truncated = true;
                break;
            }
            // The catalog is the run's one catalog; guard anyway against a shorter observation.
            const std::optional<double> value =
                *index < obs.samples().size() ? obs.get(*index) : std::optional<double>{};
            series.points.push_back({obs.time, value});
        }
        std::reverse(series.points.begin(), series.points.end());
        out.series.push_back(std::move(series));
    }
    if (!unknown.empty()) {
        return api_fail(
            ErrorCode::not_found,
            fmt::format("unknown signal{} '{}'; GET /v1/observations without `signal` lists every "
                        "signal this agent reads",
                        unknown.size() > 1 ? "s" : "", fmt::join(unknown, "', '")));
    }
    return out;
}

ApiResult<std::vector<DecisionRecord>> SnapshotAgentView::decisions(const RecentQuery& query) const {
    {
        std::lock_guard lock(m_history_mutex);
        if (!m_history_source || window_covers(m_decisions, m_decisions_evicted_until, query)) {
            return recent(m_decisions, query);
        }
    }
    return m_history_source->decisions(query);
}

ApiResult<std::vector<ActionRecord>> SnapshotAgentView::actions(const RecentQuery& query) const {
    {
        std::lock_guard lock(m_history_mutex);
        if (!m_history_source || window_covers(m_actions, m_actions_evicted_until, query))
            return recent(m_actions, query);
    }
    return m_history_source->actions(query);
}

PolicyInfo SnapshotAgentView::policy() const { return snapshot()->policy; }

ApiResult<PolicyInfo> SnapshotAgentView::set_policy(const PolicySpec& spec) {
    auto command = std::make_shared<Command>();
    command->kind = Command::Kind::set_policy;
    command->what = "set policy";
    command->spec = spec;
    return submit<PolicyInfo>(std::move(command));
}

ApiResult<OptimizeResult> SnapshotAgentView::optimize_now() {
    auto command = std::make_shared<Command>();
    command->kind = Command::Kind::optimize;
    command->what = "optimize";
    return submit<OptimizeResult>(std::move(command));
}

ApiResult<RollbackResult> SnapshotAgentView::rollback() {
    auto command = std::make_shared<Command>();
    command->kind = Command::Kind::rollback;
    command->what = "rollback";
    return submit<RollbackResult>(std::move(command));
}

namespace {
constexpr std::string_view kNoRequestStore =
    "per-request energy is off in this agent: it needs the ledger (see docs/config.md, [ledger])";
}

ApiResult<RequestsAccepted> SnapshotAgentView::add_requests(const std::vector<RequestRecord>& records) {
    if (!m_requests) return api_fail(ErrorCode::unavailable, std::string(kNoRequestStore));
    return m_requests->add(records);
}

ApiResult<RequestEnergy> SnapshotAgentView::request_energy(const std::string& id) const {
    if (!m_requests) return api_fail(ErrorCode::unavailable, std::string(kNoRequestStore));
    return m_requests->get(id);
}

ApiResult<std::vector<ModelEnergy>> SnapshotAgentView::model_energy(const ModelQuery& query) const {
    if (!m_requests) return api_fail(ErrorCode::unavailable, std::string(kNoRequestStore));
    return m_requests->per_model(query);
}

MetricsSnapshot SnapshotAgentView::metrics() const {
    MetricsSnapshot out;
    out.status = status();
    out.signals = latest_observation().signals;
    if (m_requests) {
        // A failing store costs the per-model series of this scrape only; the rest is still served.
        if (auto models = m_requests->per_model({})) out.models = std::move(*models);
    }
    return out;
}

}  // namespace joulepilot::serve
