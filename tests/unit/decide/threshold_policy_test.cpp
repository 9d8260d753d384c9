#include "decide/threshold_policy.hpp"

#include <cmath>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "core/config.hpp"
#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::gpu;
using testing::setting_of;

ThresholdConfig config_from(const std::string& toml) {
    auto doc = core::ConfigDocument::parse(toml, "test.toml");
    ThresholdConfig config = ThresholdConfig::from(doc.root().section("policy").section("threshold"));
    doc.reject_unknown_keys();
    return config;
}

TEST(ThresholdPolicy, StepsDownAfterNLowSamplesAndNotBefore) {
    FleetFixture fleet(2);
    ThresholdPolicy policy({});
    fleet.set(gpu(0, "utilization_ratio"), 0.12);
    fleet.set(gpu(1, "utilization_ratio"), 0.5);
    fleet.push(9);
    const Decision early = fleet.decide(policy);
    EXPECT_TRUE(early.settings.empty()) << early.rationale;

    fleet.push();
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(decision.settings[0].knob, gpu(0, "sm_clock_cap_hz"));
    EXPECT_DOUBLE_EQ(decision.settings[0].value, 1830e6);
    EXPECT_NE(
        decision.rationale.find("gpu 0: utilization 0.12 < 0.30 for 10 samples: clock cap 1980 -> 1830 MHz"),
        std::string::npos)
        << decision.rationale;
}

TEST(ThresholdPolicy, TheMeanOverTheLastNDecides) {
    const auto run = [](double a, double b) {
        FleetFixture fleet(1);
        ThresholdPolicy policy({});
        fleet.set(gpu(0, "utilization_ratio"), 0.95);
        fleet.push(30);  // older than the last 10 samples: must not count
        for (int s = 0; s < 10; ++s) {
            fleet.set(gpu(0, "utilization_ratio"), s % 2 == 0 ? a : b);
            fleet.push();
        }
        return setting_of(fleet.decide(policy), gpu(0, "sm_clock_cap_hz"));
    };
    EXPECT_EQ(run(0.1, 0.45), 1830e6);        // mean 0.275: low, though half the samples are not
    EXPECT_EQ(run(0.1, 0.55), std::nullopt);  // mean 0.325: steady
}

TEST(ThresholdPolicy, NextStepWaitsForNFreshSamples) {
    FleetFixture fleet(1);
    ThresholdPolicy policy({});
    fleet.set(gpu(0, "utilization_ratio"), 0.05);
    fleet.push(10);
    fleet.apply(fleet.decide(policy));
    EXPECT_DOUBLE_EQ(fleet.knob(gpu(0, "sm_clock_cap_hz")).current, 1830e6);

    fleet.push(9);  // nine samples under the new cap: not enough to judge it
    const Decision waiting = fleet.decide(policy);
    EXPECT_TRUE(waiting.settings.empty()) << waiting.rationale;
    EXPECT_NE(waiting.rationale.find("low for fewer than 10 samples"), std::string::npos)
        << waiting.rationale;

    fleet.push();
    EXPECT_EQ(setting_of(fleet.decide(policy), gpu(0, "sm_clock_cap_hz")), 1680e6);
}

TEST(ThresholdPolicy, NeverStepsBelowTheFloor) {
    FleetFixture fleet(1);
    ThresholdPolicy policy({});
    fleet.set(gpu(0, "utilization_ratio"), 0.0);
    std::vector<double> caps;
    for (int round = 0; round < 12; ++round) {
        fleet.push(10);
        const Decision decision = fleet.decide(policy);
        fleet.apply(decision);
        if (const auto v = setting_of(decision, gpu(0, "sm_clock_cap_hz"))) caps.push_back(*v);
    }
    const std::vector<double> expected{1830e6, 1680e6, 1530e6, 1380e6, 1230e6, 1080e6, 990e6};
    EXPECT_EQ(caps, expected);
    fleet.push(10);
    const Decision at_floor = fleet.decide(policy);
    EXPECT_TRUE(at_floor.settings.empty());
    EXPECT_NE(at_floor.rationale.find("at the floor"), std::string::npos) << at_floor.rationale;
}

TEST(ThresholdPolicy, FloorOffTheKnobGridRoundsUp) {
    FleetFixture fleet(1);
    ThresholdConfig config;
    config.min_clock_mhz = 1000;  // the 15 MHz grid from 210 MHz has 990 and 1005
    ThresholdPolicy policy(config);
    fleet.set(gpu(0, "utilization_ratio"), 0.0);
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 1080e6;
    fleet.push(10);
    EXPECT_EQ(setting_of(fleet.decide(policy), gpu(0, "sm_clock_cap_hz")), 1005e6);
}

TEST(ThresholdPolicy, StepsUpToTheKnobMaximum) {
    FleetFixture fleet(2);
    ThresholdPolicy policy({});
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 990e6;
    fleet.set(gpu(0, "utilization_ratio"), 0.93);
    fleet.set(gpu(1, "utilization_ratio"), 0.95);  // already at the maximum: nothing to raise
    fleet.push(3);
    const Decision decision = fleet.decide(policy);
    ASSERT_EQ(decision.settings.size(), 1U) << decision.rationale;
    EXPECT_EQ(setting_of(decision, gpu(0, "sm_clock_cap_hz")), 1980e6);
    EXPECT_NE(decision.rationale.find("clock cap 990 -> 1980 MHz"), std::string::npos) << decision.rationale;
    EXPECT_NE(decision.rationale.find("1 busy but at the maximum"), std::string::npos) << decision.rationale;
}

TEST(ThresholdPolicy, RaiseByOneStepWhenConfigured) {
    FleetFixture fleet(1);
    ThresholdPolicy policy(config_from("[policy.threshold]\nraise = \"step\"\n"));
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 1900e6;
    fleet.set(gpu(0, "utilization_ratio"), 0.9);
    fleet.push();
    // 1900 + 150 passes the knob's maximum: the ceiling holds.
    EXPECT_EQ(setting_of(fleet.decide(policy), gpu(0, "sm_clock_cap_hz")), 1980e6);
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 990e6;
    EXPECT_EQ(setting_of(fleet.decide(policy), gpu(0, "sm_clock_cap_hz")), 1140e6);
}

TEST(ThresholdPolicy, PowerKnobStepsThePowerLimitOnly) {
    FleetFixture fleet(1);
    ThresholdPolicy policy(config_from("[policy.threshold]\nknob = \"power\"\n"));
    fleet.set(gpu(0, "utilization_ratio"), 0.1);
    std::vector<double> limits;
    for (int round = 0; round < 10; ++round) {
        fleet.push(10);
        const Decision decision = fleet.decide(policy);
        for (const auto& s : decision.settings) EXPECT_EQ(s.knob, gpu(0, "power_limit_watts"));
        fleet.apply(decision);
        if (const auto v = setting_of(decision, gpu(0, "power_limit_watts"))) limits.push_back(*v);
    }
    const std::vector<double> expected{650, 600, 550, 500, 450, 400, 350, 300};
    EXPECT_EQ(limits, expected);

    fleet.set(gpu(0, "utilization_ratio"), 0.85);
    fleet.push(10);
    const Decision up = fleet.decide(policy);
    EXPECT_EQ(setting_of(up, gpu(0, "power_limit_watts")), 700);
    EXPECT_NE(up.rationale.find("power limit 300 -> 700 W"), std::string::npos) << up.rationale;
}

TEST(ThresholdPolicy, OnlyGpusWhoseKnobExists) {
    FleetFixture fleet(2);
    act::KnobSpace knobs;
    knobs.add({gpu(1, "sm_clock_cap_hz"), "Hz", act::KnobDomain{210e6, 1980e6, 15e6, {}}, 1980e6, 1980e6});
    ThresholdPolicy policy({});
    fleet.set(gpu(0, "utilization_ratio"), 0.0);
    fleet.set(gpu(1, "utilization_ratio"), 0.0);
    fleet.push(10);
    const Decision decision = policy.decide(fleet.state(), knobs, {});
    ASSERT_EQ(decision.settings.size(), 1U);
    EXPECT_EQ(decision.settings[0].knob, gpu(1, "sm_clock_cap_hz"));

    const Decision none = policy.decide(fleet.state(), act::KnobSpace{}, {});
    EXPECT_TRUE(none.settings.empty());
}

TEST(ThresholdPolicy, MissingSampleBlocksAStepDown) {
    FleetFixture fleet(1);
    ThresholdPolicy policy({});
    fleet.set(gpu(0, "utilization_ratio"), 0.1);
    fleet.push(5);
    fleet.missing(gpu(0, "utilization_ratio"));
    fleet.push();
    fleet.set(gpu(0, "utilization_ratio"), 0.1);
    fleet.push(4);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty());
    EXPECT_NE(decision.rationale.find("missing in 1 of the last 10 samples: not stepping down"),
              std::string::npos)
        << decision.rationale;
}

TEST(ThresholdPolicy, AllSamplesMissingHoldsTheKnob) {
    FleetFixture fleet(1);
    ThresholdPolicy policy({});
    fleet.knob(gpu(0, "sm_clock_cap_hz")).current = 990e6;
    fleet.missing(gpu(0, "utilization_ratio"));
    fleet.push(20);
    const Decision decision = fleet.decide(policy);
    EXPECT_TRUE(decision.settings.empty());
    EXPECT_NE(decision.rationale.find(
                  "gpu 0: utilization missing in the last 10 samples: holding clock cap 990 MHz"),
              std::string::npos)
        << decision.rationale;
}

TEST(ThresholdPolicy, NoObservationsNoChange) {
    FleetFixture fleet(1);
    ThresholdPolicy policy({});
    EXPECT_TRUE(fleet.decide(policy).settings.empty());
}

TEST(ThresholdPolicy, ConfigDefaultsAndKeys) {
    const ThresholdConfig defaults = config_from("");
    EXPECT_EQ(defaults.knob, ThresholdConfig::Knob::clock);
    EXPECT_EQ(defaults.samples, 10U);
    EXPECT_DOUBLE_EQ(defaults.low, 0.3);
    EXPECT_DOUBLE_EQ(defaults.high, 0.8);
    EXPECT_DOUBLE_EQ(defaults.step_mhz, 150);
    EXPECT_DOUBLE_EQ(defaults.min_clock_mhz, 990);
    EXPECT_DOUBLE_EQ(defaults.step_watts, 50);
    EXPECT_DOUBLE_EQ(defaults.min_power_watts, 300);
    EXPECT_EQ(defaults.raise, ThresholdConfig::Raise::to_max);

    const ThresholdConfig set = config_from(
        "[policy.threshold]\nknob = \"power\"\nsamples = 5\nlow = 0.2\nhigh = 0.9\nstep_mhz = 90\n"
        "min_clock_mhz = 1200\nstep_watts = 25\nmin_power_watts = 350\nraise = \"step\"\n");
    EXPECT_EQ(set.knob, ThresholdConfig::Knob::power);
    EXPECT_EQ(set.samples, 5U);
    EXPECT_DOUBLE_EQ(set.low, 0.2);
    EXPECT_DOUBLE_EQ(set.high, 0.9);
    EXPECT_DOUBLE_EQ(set.step_mhz, 90);
    EXPECT_DOUBLE_EQ(set.min_clock_mhz, 1200);
    EXPECT_DOUBLE_EQ(set.step_watts, 25);
    EXPECT_DOUBLE_EQ(set.min_power_watts, 350);
    EXPECT_EQ(set.raise, ThresholdConfig::Raise::one_step);
}

TEST(ThresholdPolicy, ConfigRejectsBadValues) {
    EXPECT_THROW(config_from("[policy.threshold]\nlow = 1.5\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nsamples = 0\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nsamples = 2.5\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nknob = \"voltage\"\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nmin_clock_mhz = -5\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nstep_watts = 0\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nraise = \"half\"\n"), core::ConfigError);
    EXPECT_THROW(config_from("[policy.threshold]\nlow_threshold = 0.2\n"), core::ConfigError);
    try {
        config_from("[policy.threshold]\nlow = 0.8\nhigh = 0.5\n");
        FAIL() << "low above high was accepted";
    } catch (const core::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("policy.threshold.low"), std::string::npos) << e.what();
    }
}

// For arbitrary utilisation (missing or not, in range or not) and arbitrary starting settings, every
// setting names an existing clock knob, lies in its domain, changes it, and never steps under the floor.
TEST(ThresholdPolicy, PropertySettingsStayInsideDomainAndFloor) {
    const bool ok = rc::check("threshold settings stay inside the knob domain", [] {
        const int gpus = *rc::gen::inRange(1, 5);
        const bool power = *rc::gen::arbitrary<bool>();
        ThresholdConfig config;
        config.knob = power ? ThresholdConfig::Knob::power : ThresholdConfig::Knob::clock;
        config.samples = static_cast<std::size_t>(*rc::gen::inRange(1, 12));
        config.step_mhz = *rc::gen::inRange(1, 600);
        config.min_clock_mhz = *rc::gen::inRange(100, 2500);
        config.step_watts = *rc::gen::inRange(1, 300);
        config.min_power_watts = *rc::gen::inRange(10, 900);
        config.raise =
            *rc::gen::arbitrary<bool>() ? ThresholdConfig::Raise::one_step : ThresholdConfig::Raise::to_max;
        ThresholdPolicy policy(config);
        FleetFixture fleet(gpus);
        const std::string leaf = power ? "power_limit_watts" : "sm_clock_cap_hz";
        for (int i = 0; i < gpus; ++i) {
            act::Knob& knob = fleet.knob(gpu(i, leaf.c_str()));
            knob.current = knob.domain.clamp(*rc::gen::inRange(0, 2000) * (power ? 1.0 : 1e6));
        }
        const double floor_si = power ? config.min_power_watts : config.min_clock_mhz * 1e6;
        bool any_down = false;
        bool any_up = false;
        const int rounds = *rc::gen::inRange(1, 40);
        for (int round = 0; round < rounds; ++round) {
            for (int i = 0; i < gpus; ++i) {
                if (*rc::gen::inRange(0, 10) == 0) {
                    fleet.missing(gpu(i, "utilization_ratio"));
                } else {
                    fleet.set(gpu(i, "utilization_ratio"), *rc::gen::inRange(-10, 120) / 100.0);
                }
            }
            fleet.push(*rc::gen::inRange(1, 12));
            const Decision decision = fleet.decide(policy);
            for (const act::KnobSetting& s : decision.settings) {
                const act::Knob* knob = fleet.knobs().get(s.knob);
                RC_ASSERT(knob != nullptr);
                RC_ASSERT(s.knob.ends_with(leaf));
                RC_ASSERT(knob->domain.contains(s.value));
                RC_ASSERT(std::abs(knob->domain.clamp(s.value) - s.value) <= 1e-9 * s.value);  // on the grid
                RC_ASSERT(s.value != knob->current);
                if (s.value < knob->current) RC_ASSERT(s.value >= floor_si);
            }
            for (const act::KnobSetting& s : decision.settings) {
                (s.value < fleet.knob(s.knob).current ? any_down : any_up) = true;
            }
            fleet.apply(decision);
        }
        RC_CLASSIFY(any_down, "stepped down");
        RC_CLASSIFY(any_up, "raised");
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::decide
