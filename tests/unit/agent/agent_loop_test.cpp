#include "agent/agent_loop.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "support/fake_actuator.hpp"

namespace joulepilot::agent {
namespace {

class CountingSensor : public sense::Sensor {
public:
    [[nodiscard]] std::string name() const override { return "counting"; }
    std::vector<sense::SignalInfo> discover() override {
        return {{"test.reads", "count", sense::Provenance::measured, ""}};
    }
    core::Result<void> read(std::span<sense::Sample> samples) override {
        ++reads;
        if (throw_next) {
            throw_next = false;
            throw std::runtime_error("device vanished");
        }
        if (fail_next) {
            fail_next = false;
            return core::fail("counting: read failed");
        }
        samples[0] = {static_cast<double>(reads), true};
        return {};
    }
    int reads = 0;
    bool fail_next = false;
    bool throw_next = false;
};

// Lowers the power limit by 10 W per decision and remembers what it saw.
class SteppingPolicy : public decide::Policy {
public:
    [[nodiscard]] std::string_view name() const override { return "stepping"; }
    decide::Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                            const decide::Constraints&) override {
        times.push_back(state.now.value());
        window_sizes.push_back(state.window.size());
        const double limit = knobs.get("gpu.0.power_limit_watts")->current;
        return {{{"gpu.0.power_limit_watts", limit - 10}}, "step", {}};
    }
    std::vector<double> times;
    std::vector<std::size_t> window_sizes;
};

class Recorder : public LoopObserver {
public:
    void on_observation(const sense::Observation& o) override { observations.push_back(o); }
    void on_decision(core::Seconds, const decide::Decision&, const act::ShieldReport& r) override {
        reports.push_back(r);
    }
    std::vector<sense::Observation> observations;
    std::vector<act::ShieldReport> reports;
};

TEST(AgentLoop, SensesEveryIntervalAndDecidesEveryDecideInterval) {
    core::ManualClock clock;
    CountingSensor sensor;
    testing::FakeActuator actuator(testing::two_test_knobs());
    act::SafetyShield shield({&actuator}, act::ShieldMode::act);
    SteppingPolicy policy;
    Recorder recorder;
    LoopSettings settings;
    settings.sense_interval = core::Seconds(1);
    settings.decide_interval = core::Seconds(10);
    AgentLoop loop(clock, {&sensor}, shield, policy, settings, &recorder);
    loop.run_until(core::Seconds(30));
    EXPECT_EQ(loop.stats().ticks, 31u);  // t = 0..30
    EXPECT_EQ(sensor.reads, 31);
    ASSERT_EQ(policy.times.size(), 3u);  // t = 10, 20, 30
    EXPECT_EQ(policy.times[0], 10);
    EXPECT_EQ(policy.times[2], 30);
    EXPECT_EQ(policy.window_sizes[0], 11u);
    EXPECT_EQ(actuator.value(0), 670);  // three steps of 10 W through the shield
    EXPECT_EQ(recorder.reports.size(), 3u);
    EXPECT_EQ(recorder.observations.back().get("test.reads"), 31.0);
    EXPECT_EQ(recorder.observations.back().time, core::Seconds(30));
}

TEST(AgentLoop, AFailingOrThrowingSensorMakesSamplesMissingAndIsCounted) {
    core::ManualClock clock;
    CountingSensor sensor;
    testing::FakeActuator actuator(testing::two_test_knobs());
    act::SafetyShield shield({&actuator}, act::ShieldMode::observe);
    SteppingPolicy policy;
    Recorder recorder;
    AgentLoop loop(clock, {&sensor}, shield, policy, LoopSettings{}, &recorder);
    sensor.fail_next = true;
    loop.tick();
    sensor.throw_next = true;
    clock.advance(core::Seconds(1));
    loop.tick();
    clock.advance(core::Seconds(1));
    loop.tick();
    EXPECT_EQ(loop.stats().sensor_errors.at("counting"), 2u);
    EXPECT_FALSE(recorder.observations[0].get("test.reads"));
    EXPECT_FALSE(recorder.observations[1].get("test.reads"));
    EXPECT_EQ(recorder.observations[2].get("test.reads"), 3.0);
}

TEST(AgentLoop, StopEndsTheRun) {
    core::ManualClock clock;
    CountingSensor sensor;
    testing::FakeActuator actuator(testing::two_test_knobs());
    act::SafetyShield shield({&actuator}, act::ShieldMode::observe);
    SteppingPolicy policy;
    AgentLoop loop(clock, {&sensor}, shield, policy, LoopSettings{});
    loop.stop();
    loop.run_until(core::Seconds(100));
    EXPECT_EQ(sensor.reads, 0);
}

}  // namespace
}  // namespace joulepilot::agent
