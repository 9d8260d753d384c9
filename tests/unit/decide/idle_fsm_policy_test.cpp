#include "decide/idle_fsm_policy.hpp"
#include "decide/idle_parking.hpp"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "core/config.hpp"
#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::gpu;
using testing::replica;
using testing::setting_of;

IdleFsmConfig with_capacity(double rps) {
    IdleFsmConfig config;
    config.replica_capacity_rps = rps;
    return config;
}

IdleFsmConfig config_from(const std::string& toml) {
    auto doc = core::ConfigDocument::parse(toml, "test.toml");
    IdleFsmConfig config = IdleFsmConfig::from(doc.root().section("policy").section("idle-fsm"));
    doc.reject_unknown_keys();
    return config;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::size_t active_count(FleetFixture& fleet) {
    std::size_t on = 0;
    for (int i = 0; i < fleet.replicas(); ++i) on += fleet.knob(replica(i, "active")).current == 1 ? 1 : 0;
    return on;
}

// A main policy for the composition tests: changes nothing, and holds capacity or not as told.
class FixedMainPolicy final : public Policy {
public:
    explicit FixedMainPolicy(bool hold) : m_hold(hold) {}
    [[nodiscard]] std::string_view name() const override { return "fixed"; }
    Decision decide(const learn::ModelState&, const act::KnobSpace&, const Constraints&) override {
        Decision d;
        d.rationale = "fixed";
        d.hold_capacity = m_hold;
        return d;
    }

private:
    bool m_hold;
};

TEST(IdleParking, ParksAnIdleReplicaUnlessTheMainPolicyHoldsCapacity) {
    for (const bool hold : {false, true}) {
        FleetFixture fleet(4);
        IdleParking composed(std::make_unique<FixedMainPolicy>(hold), with_capacity(10));
        EXPECT_EQ(composed.name(), "fixed");
        fleet.push(10);
        fleet.set_idle(3, true);
        fleet.push(3);
        const Decision d = fleet.decide(composed);
        if (hold) {
            EXPECT_FALSE(setting_of(d, replica(3, "active")).has_value()) << d.rationale;
        } else {
            EXPECT_EQ(setting_of(d, replica(3, "active")), 0.0) << d.rationale;
            EXPECT_TRUE(contains(d.rationale, "idle-fsm parks 1")) << d.rationale;
        }
    }
}

TEST(IdleFsmPolicy, IdleNeedsThreeConsecutiveSamples) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.push(10);
    fleet.set_idle(3, true);
    fleet.push(2);
    const Decision early = fleet.decide(policy);
    EXPECT_TRUE(early.settings.empty()) << early.rationale;
    EXPECT_EQ(policy.phases().at(3), ReplicaPhase::idle_candidate);
    EXPECT_EQ(policy.phases().at(0), ReplicaPhase::serving);

    fleet.push();
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, replica(3, "active")), 0.0);
    EXPECT_TRUE(contains(decision.rationale, "park replica 3")) << decision.rationale;
}

TEST(IdleFsmPolicy, BusySampleBetweenIdleOnesRestartsTheCount) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set_idle(3, true);
    fleet.push(2);
    fleet.set(gpu(3, "sm_activity_ratio"), 0.09);  // just above 8.5 %
    fleet.push();
    fleet.set(gpu(3, "sm_activity_ratio"), 0.02);
    fleet.push(2);
    EXPECT_TRUE(fleet.decide(policy).settings.empty());
    fleet.set(gpu(3, "memory_activity_ratio"), 0.125);  // memory just above 12 %
    fleet.push();
    EXPECT_TRUE(fleet.decide(policy).settings.empty());
}

TEST(IdleFsmPolicy, NeverParksBelowMinActive) {
    for (const std::size_t min_active : {1U, 2U, 4U, 6U}) {
        FleetFixture fleet(4);
        IdleFsmConfig config = with_capacity(10);
        config.min_active = min_active;
        IdleFsmPolicy policy(config);
        fleet.set("fleet.arrival_rate_rps", 0);
        for (int i = 0; i < 4; ++i) fleet.set_idle(i, true);
        fleet.push(3);
        const Decision decision = fleet.decide(policy);
        fleet.apply(decision);
        EXPECT_EQ(active_count(fleet), std::min<std::size_t>(min_active, 4)) << decision.rationale;
        // The lowest indices stay on.
        for (std::size_t i = 0; i < std::min<std::size_t>(min_active, 4); ++i) {
            EXPECT_EQ(fleet.knob(replica(static_cast<int>(i), "active")).current, 1);
        }
        fleet.push(3);
        EXPECT_TRUE(fleet.decide(policy).settings.empty());
    }
}

TEST(IdleFsmPolicy, KeepsWhatPredictedDemandNeeds) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set("fleet.arrival_rate_rps", 20);  // 20 / (10 * 0.7): three replicas needed
    for (int i = 0; i < 4; ++i) fleet.set_idle(i, true);
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, replica(3, "active")), 0.0);
    EXPECT_TRUE(contains(decision.rationale, "3 of 4 replicas needed")) << decision.rationale;
}

TEST(IdleFsmPolicy, NeverParksAReplicaWithWork) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set_idle(2, true);
    fleet.set_idle(3, true);
    fleet.set(replica(2, "running_requests"), 1);
    fleet.set(replica(3, "queue_requests"), 1);
    fleet.push(5);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty()) << decision.rationale;
}

TEST(IdleFsmPolicy, NeverParksAWakingReplica) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set_idle(3, true);
    fleet.set(replica(3, "state"), 1);  // waking: no activity yet, knob already on
    fleet.push(5);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty()) << decision.rationale;
    EXPECT_EQ(policy.phases().at(3), ReplicaPhase::waking);
}

// Arrivals climb 0.1 rps every second from 4 rps: two replicas at 10 rps each hold 9.9 rps at half
// utilisation with nothing queued, but in 60 s demand reaches ~16 rps, over what two serve at 0.7.
void ramp(FleetFixture& fleet, double slope) {
    for (int t = 0; t < 60; ++t) {
        const double rate = slope > 0 ? 4 + slope * t : 9.9;
        fleet.set("fleet.arrival_rate_rps", rate);
        fleet.set(gpu(0, "utilization_ratio"), rate / 20);
        fleet.set(gpu(1, "utilization_ratio"), rate / 20);
        fleet.push();
    }
}

TEST(IdleFsmPolicy, WakesOnRisingTrendBeforeSaturation) {
    for (const double configured : {0.0, 10.0}) {
        FleetFixture fleet(4);
        fleet.park(2);
        fleet.park(3);
        IdleFsmPolicy policy(with_capacity(configured));
        ramp(fleet, 0.1);
        const Decision decision = fleet.decide(policy);
        ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
        EXPECT_EQ(setting_of(decision, replica(2, "active")), 1.0);
        EXPECT_TRUE(contains(decision.rationale, "wake replica 2 (predicted demand)")) << decision.rationale;
        ASSERT_TRUE(policy.replica_capacity_rps().has_value());
        EXPECT_NEAR(*policy.replica_capacity_rps(), 10.0, 1e-6);
    }
}

TEST(IdleFsmPolicy, FlatDemandWakesNothing) {
    FleetFixture fleet(4);
    fleet.park(2);
    fleet.park(3);
    IdleFsmPolicy policy({});
    ramp(fleet, 0.0);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty()) << decision.rationale;
}

TEST(IdleFsmPolicy, WakesOneOnQueueThenWaitsForIt) {
    FleetFixture fleet(4);
    fleet.park(2);
    fleet.park(3);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set("fleet.arrival_rate_rps", 3);
    fleet.set(replica(0, "queue_requests"), 4);  // at queue_wake, not beyond it
    fleet.push(5);
    EXPECT_TRUE(fleet.decide(policy).settings.empty());

    fleet.set(replica(0, "queue_requests"), 9);
    fleet.push();
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, replica(2, "active")), 1.0);
    EXPECT_TRUE(contains(decision.rationale, "replica 0 queue 9 > 4")) << decision.rationale;

    fleet.apply(decision);
    fleet.set(replica(2, "state"), 1);
    fleet.push(10);
    const Decision waiting = fleet.decide(policy);
    EXPECT_TRUE(waiting.settings.empty()) << waiting.rationale;
    EXPECT_TRUE(contains(waiting.rationale, "already waking")) << waiting.rationale;

    fleet.set(replica(2, "state"), 2);
    fleet.set_idle(2, false);
    fleet.push(10);
    EXPECT_EQ(setting_of(fleet.decide(policy), replica(3, "active")), 1.0);
}

TEST(IdleFsmPolicy, WakesOnTtftPastHalfTheSlo) {
    FleetFixture fleet(2);
    fleet.park(1);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set("fleet.arrival_rate_rps", 1);
    Constraints constraints;
    constraints.slo_ttft = core::Seconds(1.0);
    fleet.set("service.ttft_p99_seconds", 0.45);
    fleet.push(3);
    EXPECT_TRUE(fleet.decide(policy, constraints).settings.empty());
    fleet.set("service.ttft_p99_seconds", 0.55);
    fleet.push();
    const Decision decision = fleet.decide(policy, constraints);
    EXPECT_EQ(setting_of(decision, replica(1, "active")), 1.0) << decision.rationale;
    EXPECT_TRUE(contains(decision.rationale, "p99 TTFT 0.550 s > 0.500 s")) << decision.rationale;
}

TEST(IdleFsmPolicy, WakesWarmReplicasFirst) {
    FleetFixture fleet(3);
    fleet.park(1);
    fleet.park(2);
    fleet.set(replica(2, "state"), 3);  // still draining: cheaper to keep than to cold-start replica 1
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set("fleet.arrival_rate_rps", 1);
    fleet.set(replica(0, "queue_requests"), 20);
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, replica(2, "active")), 1.0);
}

TEST(IdleFsmPolicy, WakesUpToMinActive) {
    FleetFixture fleet(3);
    for (int i = 0; i < 3; ++i) fleet.park(i);
    fleet.set("fleet.arrival_rate_rps", 0);
    IdleFsmPolicy policy({});
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, replica(0, "active")), 1.0);
    EXPECT_TRUE(contains(decision.rationale, "(min_active)")) << decision.rationale;
}

TEST(IdleFsmPolicy, DoesNotParkAReplicaWokenRecently) {
    FleetFixture fleet(2);
    fleet.park(1);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set("fleet.arrival_rate_rps", 1);
    fleet.set(replica(0, "queue_requests"), 9);
    fleet.push();
    const Decision wake = fleet.decide(policy);
    ASSERT_EQ(setting_of(wake, replica(1, "active")), 1.0) << wake.rationale;
    fleet.apply(wake);
    const core::Seconds woken = fleet.state().now;

    // Replica 1 serves, the burst passes and it goes idle again.
    fleet.set(replica(0, "queue_requests"), 0);
    fleet.set(replica(1, "state"), 2);
    fleet.set_idle(1, true);
    fleet.push(3);
    const Decision recent = fleet.decide(policy);
    EXPECT_TRUE(recent.settings.empty()) << recent.rationale;
    EXPECT_TRUE(contains(recent.rationale, "replica 1: idle but woken 3 s ago (< 300 s)"))
        << recent.rationale;

    while (fleet.state().now - woken < core::Seconds(299)) fleet.push();
    EXPECT_TRUE(fleet.decide(policy).settings.empty());
    fleet.push();
    EXPECT_EQ(setting_of(fleet.decide(policy), replica(1, "active")), 0.0);
}

TEST(IdleFsmPolicy, MissingActivityOrStateMeansNoPark) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set_idle(2, true);
    fleet.set_idle(3, true);
    fleet.push(3);
    fleet.missing(gpu(3, "sm_activity_ratio"));
    fleet.missing(replica(2, "state"));
    fleet.push();
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty()) << decision.rationale;
    EXPECT_TRUE(contains(decision.rationale, "replica 3: gpu.3.sm_activity_ratio missing; not parking it"))
        << decision.rationale;
    EXPECT_TRUE(contains(decision.rationale, "replica 2: state missing; not parking it"))
        << decision.rationale;
}

TEST(IdleFsmPolicy, MissingArrivalRateMeansNoPark) {
    FleetFixture fleet(4);
    IdleFsmPolicy policy(with_capacity(10));
    fleet.set_idle(3, true);
    fleet.push(3);
    fleet.missing("fleet.arrival_rate_rps");
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty()) << decision.rationale;
    EXPECT_TRUE(contains(decision.rationale, "arrival rate missing")) << decision.rationale;
}

TEST(IdleFsmPolicy, UnknownCapacityStillParksByIdleAlone) {
    FleetFixture fleet(3);
    IdleFsmPolicy policy({});
    fleet.set("fleet.arrival_rate_rps", 0.2);
    for (int i = 0; i < 3; ++i) fleet.set_idle(i, true);
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(contains(decision.rationale, "capacity not known")) << decision.rationale;
    EXPECT_EQ(decision.settings.size(), 2U) << decision.rationale;
    EXPECT_FALSE(policy.replica_capacity_rps().has_value());
}

TEST(IdleFsmPolicy, TouchesOnlyActiveKnobs) {
    FleetFixture fleet(4);
    fleet.park(3);
    IdleFsmPolicy policy(with_capacity(5));
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 990e6;
    fleet.set_idle(2, true);
    fleet.set("fleet.arrival_rate_rps", 2);
    fleet.push(5);
    const Decision park = fleet.decide(policy);
    fleet.apply(park);
    fleet.set(replica(1, "queue_requests"), 50);
    fleet.push();
    const Decision wake = fleet.decide(policy);
    ASSERT_FALSE(park.settings.empty());
    ASSERT_FALSE(wake.settings.empty());
    for (const Decision* d : {&park, &wake}) {
        for (const act::KnobSetting& s : d->settings) EXPECT_TRUE(s.knob.ends_with(".active")) << s.knob;
    }
}

TEST(IdleFsmPolicy, NoReplicasOrNoObservations) {
    FleetFixture fleet(2);
    IdleFsmPolicy policy({});
    EXPECT_TRUE(fleet.decide(policy).settings.empty());  // empty window
    fleet.push();
    EXPECT_TRUE(policy.decide(fleet.state(), act::KnobSpace{}, {}).settings.empty());
}

TEST(IdleFsmPolicy, ConfigDefaultsAndKeys) {
    const IdleFsmConfig d = config_from("");
    EXPECT_EQ(d.min_active, 1U);
    EXPECT_DOUBLE_EQ(d.sm_idle_ratio, 0.085);
    EXPECT_DOUBLE_EQ(d.memory_idle_ratio, 0.12);
    EXPECT_EQ(d.idle_samples, 3U);
    EXPECT_EQ(d.trend_samples, 60U);
    EXPECT_DOUBLE_EQ(d.lookahead_s, 60);
    EXPECT_DOUBLE_EQ(d.target_utilization, 0.7);
    EXPECT_DOUBLE_EQ(d.queue_wake, 4);
    EXPECT_DOUBLE_EQ(d.min_on_s, 300);
    EXPECT_DOUBLE_EQ(d.replica_capacity_rps, 0);

    const IdleFsmConfig c = config_from(
        "[policy.idle-fsm]\nmin_active = 2\nsm_idle_ratio = 0.05\nmemory_idle_ratio = 0.1\nidle_samples = 5\n"
        "trend_samples = 30\nlookahead_s = 90\ntarget_utilization = 0.6\nqueue_wake = 8\nmin_on_s = 600\n"
        "replica_capacity_rps = 12.5\n");
    EXPECT_EQ(c.min_active, 2U);
    EXPECT_DOUBLE_EQ(c.sm_idle_ratio, 0.05);
    EXPECT_DOUBLE_EQ(c.memory_idle_ratio, 0.1);
    EXPECT_EQ(c.idle_samples, 5U);
    EXPECT_EQ(c.trend_samples, 30U);
    EXPECT_DOUBLE_EQ(c.lookahead_s, 90);
    EXPECT_DOUBLE_EQ(c.target_utilization, 0.6);
    EXPECT_DOUBLE_EQ(c.queue_wake, 8);
    EXPECT_DOUBLE_EQ(c.min_on_s, 600);
    EXPECT_DOUBLE_EQ(c.replica_capacity_rps, 12.5);
}

TEST(IdleFsmPolicy, ConfigRejectsBadValues) {
    EXPECT_THROW(config_from("[policy.idle-fsm]\nmin_active = 0\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nsm_idle_ratio = 1.5\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nidle_samples = 0\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\ntarget_utilization = 0\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nlookahead_s = -1\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nqueue_wake = 4.5\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nreplica_capacity_rps = \"fast\"\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.idle-fsm]\nmin_on = 300\n"), core::ConfigError);
}

// For arbitrary signals (any may be missing), replica states and knob positions, over a run of
// decisions the world follows: every setting is a replica.<i>.active knob that exists, inside its
// domain and a change, and at least min_active replicas (or all, if fewer) are on after each decision.
TEST(IdleFsmPolicy, PropertyDomainAndMinActive) {
    const bool ok = rc::check("idle-fsm keeps min_active on and settings in domain", [] {
        const int n = *rc::gen::inRange(1, 7);
        IdleFsmConfig config;
        config.min_active = static_cast<std::size_t>(*rc::gen::inRange(1, 4));
        config.idle_samples = static_cast<std::size_t>(*rc::gen::inRange(1, 5));
        config.trend_samples = static_cast<std::size_t>(*rc::gen::inRange(3, 40));
        config.min_on_s = *rc::gen::inRange(0, 30);
        config.replica_capacity_rps = *rc::gen::element(0.0, 0.5, 5.0, 50.0);
        config.queue_wake = *rc::gen::inRange(0, 10);
        IdleFsmPolicy policy(config);
        FleetFixture fleet(n, 64);
        const auto maybe_set = [&](const std::string& signal, double value) {
            if (*rc::gen::inRange(0, 40) == 0) {
                fleet.missing(signal);
            } else {
                fleet.set(signal, value);
            }
        };
        for (int i = 0; i < n; ++i) fleet.knob(replica(i, "active")).current = *rc::gen::inRange(0, 2);
        bool any_woke = false;
        bool any_parked = false;
        const int rounds = *rc::gen::inRange(1, 30);
        for (int round = 0; round < rounds; ++round) {
            // Each replica keeps a state and a workload for a round, so idle runs and parks happen.
            std::vector<int> states;
            std::vector<bool> quiet;
            for (int i = 0; i < n; ++i) {
                states.push_back(*rc::gen::weightedElement<int>({{6, 2}, {1, 0}, {1, 1}, {1, 3}, {1, 7}}));
                quiet.push_back(*rc::gen::arbitrary<bool>());
            }
            const int samples = *rc::gen::inRange(1, 8);
            for (int s = 0; s < samples; ++s) {
                for (int i = 0; i < n; ++i) {
                    const auto ratio = [&] { return quiet[i] ? 0.0 : *rc::gen::inRange(0, 101) / 100.0; };
                    maybe_set(gpu(i, "utilization_ratio"), ratio());
                    maybe_set(gpu(i, "sm_activity_ratio"), ratio());
                    maybe_set(gpu(i, "memory_activity_ratio"), ratio());
                    maybe_set(replica(i, "queue_requests"), quiet[i] ? 0 : *rc::gen::inRange(0, 6));
                    maybe_set(replica(i, "running_requests"), quiet[i] ? 0 : *rc::gen::inRange(0, 20));
                    maybe_set(replica(i, "state"), states[static_cast<std::size_t>(i)]);
                }
                maybe_set("fleet.arrival_rate_rps", *rc::gen::inRange(-5, 200) / 10.0);
                maybe_set("service.ttft_p99_seconds", *rc::gen::inRange(0, 60) / 100.0);
                fleet.push();
            }
            const Decision decision = fleet.decide(policy);
            for (const act::KnobSetting& s : decision.settings) {
                const act::Knob* knob = fleet.knobs().get(s.knob);
                RC_ASSERT(knob != nullptr);
                RC_ASSERT(s.knob.starts_with("replica.") && s.knob.ends_with(".active"));
                RC_ASSERT(knob->domain.contains(s.value));
                RC_ASSERT(s.value != knob->current);
                (s.value == 1 ? any_woke : any_parked) = true;
            }
            fleet.apply(decision);
            RC_ASSERT(active_count(fleet) >=
                      std::min<std::size_t>(config.min_active, static_cast<std::size_t>(n)));
        }
        RC_CLASSIFY(any_woke, "woke");
        RC_CLASSIFY(any_parked, "parked");
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::decide
