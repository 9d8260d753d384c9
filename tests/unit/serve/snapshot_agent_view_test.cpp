// SnapshotAgentView: what the loop publishes is what readers see; bounded in-memory windows with the
// history source behind them; commands run on the loop thread, time out without running later, and fail
// after close(); readers on other threads while the loop publishes.
#include "serve/snapshot_agent_view.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

namespace joulepilot::serve {
namespace {

std::shared_ptr<const sense::SignalCatalog> catalog() {
    auto c = std::make_shared<sense::SignalCatalog>();
    c->add({"gpu.0.power_watts", "W", sense::Provenance::derived, ""});
    c->add({"service.slo_attainment_ratio", "ratio", sense::Provenance::measured, ""});
    return c;
}

std::shared_ptr<const sense::Observation> observation(const std::shared_ptr<const sense::SignalCatalog>& c,
                                                      double t, double power, bool slo_valid = true) {
    auto obs = std::make_shared<sense::Observation>(c);
    obs->time = core::Seconds(t);
    obs->samples()[0] = {power, true};
    obs->samples()[1] = {0.99, slo_valid};
    return obs;
}

AgentSnapshot snapshot_at(const std::shared_ptr<const sense::SignalCatalog>& c, double t) {
    AgentSnapshot s;
    s.status.world = "twin";
    s.status.ticks = static_cast<std::uint64_t>(t);
    s.status.last_tick = core::Seconds(t);
    s.policy.name = "static";
    s.observation = observation(c, t, 100 + t);
    return s;
}

// Test double: a history source (the ledger's role) that says it answered.
class FakeHistory final : public HistorySource {
public:
    mutable std::atomic<int> calls{0};
    ApiResult<ObservationHistory> observations(const ObservationQuery&) const override {
        ++calls;
        ObservationHistory h;
        h.source = "ledger";
        return h;
    }
    ApiResult<std::vector<DecisionRecord>> decisions(const RecentQuery&) const override {
        ++calls;
        DecisionRecord d;
        d.rationale = "from the ledger";
        return std::vector<DecisionRecord>{d};
    }
    ApiResult<std::vector<ActionRecord>> actions(const RecentQuery&) const override {
        ++calls;
        return std::vector<ActionRecord>{};
    }
};

// Test double: the agent's loop-side commands, recording the thread they ran on.
class FakeLoopCommands final : public LoopCommands {
public:
    std::atomic<int> calls{0};
    std::thread::id ran_on;
    bool throw_on_rollback = false;
    ApiResult<OptimizeResult> optimize_now() override {
        ++calls;
        ran_on = std::this_thread::get_id();
        OptimizeResult r;
        r.decision.id = 42;
        r.decision.trigger = "api";
        return r;
    }
    ApiResult<RollbackResult> rollback() override {
        ++calls;
        if (throw_on_rollback) throw std::runtime_error("actuator exploded");
        return RollbackResult{0, {}, "restored"};
    }
    ApiResult<PolicyInfo> set_policy(const PolicySpec& spec) override {
        ++calls;
        if (spec.name == "nope")
            return api_fail(ErrorCode::validation_failed, "unknown policy 'nope'", {"name: unknown"});
        return PolicyInfo{spec.name, spec.params, {"static", "threshold"}};
    }
};

// Test double: a request store that holds nothing and answers per-model totals.
class FakeRequests final : public RequestStore {
public:
    ApiResult<RequestsAccepted> add(const std::vector<RequestRecord>& records) override {
        return RequestsAccepted{records.size(), 0};
    }
    ApiResult<RequestEnergy> get(const std::string& id) const override {
        return api_fail(ErrorCode::not_found, "no request '" + id + "'");
    }
    ApiResult<std::vector<ModelEnergy>> per_model(const ModelQuery&) const override {
        ModelEnergy m;
        m.model = "m";
        m.energy_joules = 5;
        return std::vector<ModelEnergy>{m};
    }
};

TEST(SnapshotAgentView, BeforeTheFirstTick) {
    SnapshotAgentView view;
    EXPECT_EQ(view.status().ticks, 0U);
    EXPECT_FALSE(view.latest_observation().time);
    auto h = view.observations({{"gpu.0.power_watts"}, {}, {}, 10});
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().code, ErrorCode::unavailable);
    EXPECT_NE(h.error().message.find("first tick"), std::string::npos);
}

TEST(SnapshotAgentView, ReadersSeeWhatWasPublished) {
    const auto c = catalog();
    SnapshotAgentView view;
    AgentSnapshot s = snapshot_at(c, 5);
    s.observation = observation(c, 5, 250, false);
    view.publish(s);
    EXPECT_EQ(view.status().ticks, 5U);
    EXPECT_EQ(view.policy().name, "static");
    const LatestObservation latest = view.latest_observation();
    EXPECT_EQ(latest.time->value(), 5.0);
    ASSERT_EQ(latest.signals.size(), 2U);
    EXPECT_EQ(latest.signals[0].value, 250.0);
    EXPECT_EQ(latest.signals[0].provenance, "derived");
    EXPECT_FALSE(latest.signals[1].value.has_value());
    const MetricsSnapshot m = view.metrics();
    EXPECT_EQ(m.signals.size(), 2U);
    EXPECT_TRUE(m.models.empty());
}

TEST(SnapshotAgentView, HistoryWindowIsBoundedAndFiltered) {
    const auto c = catalog();
    SnapshotAgentViewOptions options;
    options.history = 5;
    SnapshotAgentView view(options);
    for (int t = 1; t <= 8; ++t) view.publish(snapshot_at(c, t));
    auto h = view.observations({{"gpu.0.power_watts"}, {}, {}, 100});
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_EQ(h->source, "memory");
    EXPECT_EQ(h->oldest_available->value(), 4.0);
    ASSERT_EQ(h->series[0].points.size(), 5U);
    EXPECT_EQ(h->series[0].points.front().time.value(), 4.0);
    EXPECT_EQ(h->series[0].points.back().value, 108.0);
    EXPECT_FALSE(h->series[0].truncated);

    h = view.observations(
        {{"gpu.0.power_watts", "service.slo_attainment_ratio"}, core::Seconds(5), core::Seconds(7), 2});
    ASSERT_TRUE(h);
    ASSERT_EQ(h->series.size(), 2U);
    ASSERT_EQ(h->series[0].points.size(), 2U);  // 6 and 7: the newest kept within the limit
    EXPECT_EQ(h->series[0].points[0].time.value(), 6.0);
    EXPECT_TRUE(h->series[0].truncated);

    auto unknown = view.observations({{"gpu.0.power_watts", "gpu.7.power_watts"}, {}, {}, 10});
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::not_found);
    EXPECT_NE(unknown.error().message.find("gpu.7.power_watts"), std::string::npos);
}

TEST(SnapshotAgentView, OlderRangesComeFromTheHistorySource) {
    const auto c = catalog();
    FakeHistory history;
    SnapshotAgentViewOptions options;
    options.history = 3;
    options.decisions = 2;
    SnapshotAgentView view(options, &history);
    for (int t = 10; t <= 14; ++t) view.publish(snapshot_at(c, t));
    EXPECT_EQ(view.observations({{"gpu.0.power_watts"}, core::Seconds(12), {}, 10})->source, "memory");
    EXPECT_EQ(view.observations({{"gpu.0.power_watts"}, core::Seconds(1), {}, 10})->source, "ledger");
    EXPECT_EQ(history.calls, 1);

    for (int t = 1; t <= 4; ++t) {
        DecisionRecord d;
        d.time = core::Seconds(t);
        view.add_decision(d);
    }
    // Kept: t = 3, 4. Asking since 2.5 is answered from memory; since 1 needs evicted records.
    auto recent = view.decisions({10, core::Seconds(2.5)});
    ASSERT_TRUE(recent);
    EXPECT_EQ(recent->size(), 2U);
    EXPECT_EQ(history.calls, 1);
    auto older = view.decisions({10, core::Seconds(1)});
    ASSERT_TRUE(older);
    EXPECT_EQ(older->front().rationale, "from the ledger");
    EXPECT_EQ(history.calls, 2);
}

TEST(SnapshotAgentView, DecisionsAndActionsNewestLastWithIds) {
    SnapshotAgentView view;
    for (int t = 1; t <= 5; ++t) {
        DecisionRecord d;
        d.time = core::Seconds(t);
        EXPECT_EQ(view.add_decision(d), static_cast<std::uint64_t>(t));
    }
    auto last_two = view.decisions({2, {}});
    ASSERT_TRUE(last_two);
    ASSERT_EQ(last_two->size(), 2U);
    EXPECT_EQ((*last_two)[0].id, 4U);
    EXPECT_EQ((*last_two)[1].id, 5U);
    auto since = view.decisions({100, core::Seconds(3)});
    ASSERT_EQ(since->size(), 2U);
    EXPECT_EQ(since->front().time.value(), 4.0);

    ActionRecord a;
    a.time = core::Seconds(1);
    view.add_actions({a, a, a});
    auto actions = view.actions({100, {}});
    ASSERT_EQ(actions->size(), 3U);
    EXPECT_EQ(actions->back().id, 3U);
}

TEST(SnapshotAgentView, CommandsRunOnTheLoopThread) {
    const auto c = catalog();
    SnapshotAgentView view;
    view.publish(snapshot_at(c, 1));
    FakeLoopCommands commands;
    std::atomic<bool> stop{false};
    std::thread loop([&] {
        while (!stop) {
            view.run_commands(commands);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    const std::thread::id loop_id = loop.get_id();

    auto optimized = view.optimize_now();
    ASSERT_TRUE(optimized) << optimized.error().message;
    EXPECT_EQ(optimized->decision.id, 42U);
    EXPECT_GT(optimized->command_id, 0U);
    EXPECT_EQ(commands.ran_on, loop_id);

    auto policy = view.set_policy({"threshold", {{"util_low", 0.2}}});
    ASSERT_TRUE(policy);
    // Visible at once, not only after the next publish.
    EXPECT_EQ(view.policy().name, "threshold");
    EXPECT_EQ(view.status().policy, "threshold");

    auto refused = view.set_policy({"nope", nlohmann::json::object()});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::validation_failed);
    EXPECT_EQ(refused.error().details.size(), 1U);
    EXPECT_EQ(view.policy().name, "threshold");

    commands.throw_on_rollback = true;
    auto rolled = view.rollback();
    ASSERT_FALSE(rolled);
    EXPECT_EQ(rolled.error().code, ErrorCode::internal);
    EXPECT_NE(rolled.error().message.find("actuator exploded"), std::string::npos);

    stop = true;
    loop.join();
}

TEST(SnapshotAgentView, UntakenCommandTimesOutAndNeverRunsLater) {
    SnapshotAgentViewOptions options;
    options.command_timeout = std::chrono::milliseconds(20);
    SnapshotAgentView view(options);
    auto r = view.optimize_now();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::unavailable);
    EXPECT_NE(r.error().message.find("nothing changed"), std::string::npos);
    FakeLoopCommands commands;
    EXPECT_EQ(view.run_commands(commands), 0U);
    EXPECT_EQ(commands.calls, 0);
}

TEST(SnapshotAgentView, PendingCommandsAreBounded) {
    SnapshotAgentViewOptions options;
    options.max_pending_commands = 1;
    options.command_timeout = std::chrono::seconds(5);
    SnapshotAgentView view(options);
    auto first = std::async(std::launch::async, [&] { return view.rollback(); });
    while (view.pending_commands() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto second = view.rollback();
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("already wait"), std::string::npos);
    FakeLoopCommands commands;
    EXPECT_EQ(view.run_commands(commands), 1U);
    auto done = first.get();
    ASSERT_TRUE(done);
    EXPECT_EQ(done->message, "restored");
}

TEST(SnapshotAgentView, CloseFailsQueuedAndLaterCommands) {
    SnapshotAgentViewOptions options;
    options.command_timeout = std::chrono::seconds(5);
    SnapshotAgentView view(options);
    auto queued = std::async(std::launch::async, [&] { return view.optimize_now(); });
    while (view.pending_commands() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    view.close("the agent is stopping (SIGTERM)");
    auto r = queued.get();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("SIGTERM"), std::string::npos);
    auto later = view.set_policy({"static", nlohmann::json::object()});
    ASSERT_FALSE(later);
    EXPECT_NE(later.error().message.find("SIGTERM"), std::string::npos);
}

TEST(SnapshotAgentView, RequestRoutesNeedAStore) {
    SnapshotAgentView without;
    auto r = without.add_requests({});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::unavailable);
    EXPECT_NE(r.error().message.find("ledger"), std::string::npos);

    FakeRequests store;
    SnapshotAgentView with({}, nullptr, &store);
    EXPECT_EQ(with.add_requests({RequestRecord{}})->accepted, 1U);
    EXPECT_EQ(with.request_energy("x").error().code, ErrorCode::not_found);
    EXPECT_EQ(with.model_energy({})->size(), 1U);
    EXPECT_EQ(with.metrics().models.size(), 1U);
}

TEST(SnapshotAgentView, ReadersOnOtherThreadsWhileTheLoopPublishes) {
    const auto c = catalog();
    SnapshotAgentViewOptions options;
    options.history = 50;
    SnapshotAgentView view(options);
    view.publish(snapshot_at(c, 1));
    std::atomic<bool> stop{false};
    std::atomic<int> inconsistent{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back([&] {
            while (!stop) {
                const AgentStatus s = view.status();
                // Each snapshot is whole: its tick count and last tick were published together.
                if (!s.last_tick || static_cast<double>(s.ticks) != s.last_tick->value()) ++inconsistent;
                auto h = view.observations({{"gpu.0.power_watts"}, {}, {}, 10});
                if (!h || h->series[0].points.empty()) ++inconsistent;
                (void)view.metrics();
            }
        });
    }
    for (int t = 2; t <= 2000; ++t) view.publish(snapshot_at(c, t));
    stop = true;
    for (auto& r : readers) r.join();
    EXPECT_EQ(inconsistent, 0);
    EXPECT_EQ(view.status().ticks, 2000U);
}

}  // namespace
}  // namespace joulepilot::serve
