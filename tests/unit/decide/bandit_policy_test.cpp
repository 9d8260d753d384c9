#include "decide/bandit_policy.hpp"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::setting_of;

// No model file: the policy runs on observations only (the neighbour-expansion safe set).
BanditConfig no_model_config() {
    BanditConfig c;
    c.model_path = "/nonexistent/energy_model.json";
    c.space.groups = kBatching | kClocks;
    c.space.clocks_mhz = {1980, 1500, 1260};
    c.space.batch_caps = {128, 256};
    c.dwell_s = 30;
    c.settle_s = 10;
    return c;
}

std::size_t arm_index(const BanditPolicy& policy, double mhz, int cap) {
    const auto& arms = policy.arms();
    for (std::size_t i = 0; i < arms.size(); ++i) {
        if (arms[i].clock_mhz == mhz && arms[i].batch_cap == cap) return i;
    }
    ADD_FAILURE() << "no arm " << mhz << "/" << cap;
    return 0;
}

TEST(ArmPosterior, ConjugateUpdateShrinksTowardTheObservations) {
    ArmPosterior p;
    p.mean = 1.0;
    p.var = 0.01;
    p.observe(0.5, 0.01);  // equal precisions: the mean goes halfway, the variance halves
    EXPECT_NEAR(p.mean, 0.75, 1e-12);
    EXPECT_NEAR(p.var, 0.005, 1e-12);
    EXPECT_EQ(p.trials, 1);
    for (int i = 0; i < 200; ++i) p.observe(0.5, 0.01);
    EXPECT_NEAR(p.mean, 0.5, 0.01);
    EXPECT_LT(p.var, 1e-4);
}

TEST(ArmPosterior, FlatPriorTakesTheFirstObservation) {
    ArmPosterior p;  // default: flat
    p.observe(0.42, 1e-4);
    EXPECT_NEAR(p.mean, 0.42, 1e-6);
}

TEST(BanditPolicy, WithoutModelStartsAtTheDefaultArmAndSaysWhy) {
    FleetFixture fleet(2);
    fleet.knob("gpu.0.sm_clock_cap_hz").current = 1260e6;
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    const Decision d = fleet.decide(policy);
    ASSERT_TRUE(policy.model_problem().has_value());
    EXPECT_NE(d.rationale.find("/nonexistent/energy_model.json"), std::string::npos) << d.rationale;
    ASSERT_TRUE(policy.current_arm().has_value());
    // Nothing observed yet: only the default (static) arm is safe.
    EXPECT_EQ(policy.safe_set({}), std::vector<std::size_t>{*policy.current_arm()});
    EXPECT_EQ(policy.arms()[*policy.current_arm()].clock_mhz, 1980);
    EXPECT_EQ(setting_of(d, "gpu.0.sm_clock_cap_hz"), 1980e6);
}

TEST(BanditPolicy, HoldsAnArmForTheDwellThenUpdatesItsPosteriorWithEnergyPerToken) {
    FleetFixture fleet(2);
    fleet.set("fleet.power_watts", 800);
    fleet.set("fleet.generation_tokens_per_s", 2000);
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    fleet.apply(fleet.decide(policy));
    const std::size_t first = *policy.current_arm();
    fleet.push(10);
    fleet.decide(policy);
    EXPECT_EQ(policy.current_arm(), first);  // still inside the dwell
    EXPECT_EQ(policy.posteriors()[first].trials, 0);
    fleet.push(20);
    fleet.apply(fleet.decide(policy));
    const ArmPosterior& p = policy.posteriors()[first];
    EXPECT_EQ(p.trials, 1);
    EXPECT_NEAR(p.mean, 0.4, 1e-9);  // 800 W / 2000 tokens/s
    EXPECT_TRUE(p.observed_safe);
}

TEST(BanditPolicy, SafeSetGrowsOnlyToNeighboursOfArmsWellInsideTheSlo) {
    FleetFixture fleet(2);
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    fleet.apply(fleet.decide(policy));
    fleet.push(30);  // the default arm: p99 TTFT 0.2 s of 1 s, TPOT 30 ms of 100 ms -> 0.3 x SLO
    fleet.apply(fleet.decide(policy));
    const std::vector<std::size_t> safe = policy.safe_set({});
    const auto has = [&](double mhz, int cap) {
        return std::find(safe.begin(), safe.end(), arm_index(policy, mhz, cap)) != safe.end();
    };
    EXPECT_TRUE(has(1980, 256));
    EXPECT_TRUE(has(1500, 256));   // one clock step
    EXPECT_TRUE(has(1980, 128));   // one batch step
    EXPECT_FALSE(has(1260, 256));  // two steps away
    EXPECT_FALSE(has(1500, 128));  // diagonal
}

TEST(BanditPolicy, NoExpansionFromAnArmCloseToTheSlo) {
    FleetFixture fleet(2);
    fleet.set("service.ttft_p99_seconds", 0.75);  // 0.75 x SLO: safe, but above expand_margin 0.7
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    fleet.apply(fleet.decide(policy));
    fleet.push(30);
    fleet.apply(fleet.decide(policy));
    EXPECT_EQ(policy.safe_set({}).size(), 1U);
}

TEST(BanditPolicy, AnArmThatBreaksTheSloIsCutShortAndNeverTriedAgain) {
    FleetFixture fleet(2);
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    fleet.apply(fleet.decide(policy));
    fleet.push(30);
    fleet.apply(fleet.decide(policy));  // second trial: a neighbour (untried arms are tried first)
    const std::size_t trial = *policy.current_arm();
    ASSERT_NE(policy.arms()[trial], (ReplicaConfig{}));
    fleet.set("service.ttft_p99_seconds", 0.95);  // above 0.8 x SLO
    fleet.push(12);
    const Decision d = fleet.decide(policy);
    EXPECT_TRUE(policy.posteriors()[trial].unsafe);
    EXPECT_NE(d.rationale.find("unsafe"), std::string::npos) << d.rationale;
    EXPECT_NE(policy.current_arm(), trial);
    const std::vector<std::size_t> safe = policy.safe_set({});
    EXPECT_EQ(std::find(safe.begin(), safe.end(), trial), safe.end());
}

TEST(BanditPolicy, PredictedSafeSetComesFromTheModelVerdict) {
    FleetFixture fleet(2);
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    fleet.decide(policy);
    std::vector<bool> verdict(policy.arms().size(), false);
    const std::size_t low = arm_index(policy, 1260, 128);
    verdict[low] = true;
    const std::vector<std::size_t> safe = policy.safe_set(verdict);
    EXPECT_EQ(safe.size(), 2U);  // the default arm and the one the model clears
    EXPECT_NE(std::find(safe.begin(), safe.end(), low), safe.end());
}

TEST(BanditPolicy, ConvergesToTheLeastEnergyArmOnASteadyLoad) {
    // A hand-made world: energy per token falls with the clock (0.40 J at 1980 MHz, 0.34 at 1500,
    // 0.32 at 1260) and batch 128 costs 5% more; latency stays well inside the SLO everywhere.
    FleetFixture fleet(2);
    fleet.push(5);
    BanditPolicy policy(no_model_config());
    const auto world_jpt = [&] {
        const double mhz = fleet.knob("gpu.0.sm_clock_cap_hz").current / 1e6;
        const double cap = fleet.knob("replica.0.batch_cap").current;
        const double base = mhz >= 1980 ? 0.40 : mhz >= 1500 ? 0.34 : 0.32;
        return base * (cap < 256 ? 1.05 : 1.0);
    };
    for (int step = 0; step < 60; ++step) {
        fleet.apply(fleet.decide(policy));
        fleet.set("fleet.power_watts", world_jpt() * 2000);
        fleet.push(30);
    }
    const std::size_t best = arm_index(policy, 1260, 256);
    int most = 0;
    std::size_t most_tried = 0;
    for (std::size_t a = 0; a < policy.arms().size(); ++a) {
        if (policy.posteriors()[a].trials > most) {
            most = policy.posteriors()[a].trials;
            most_tried = a;
        }
    }
    EXPECT_EQ(most_tried, best);
    EXPECT_NEAR(policy.posteriors()[best].mean, 0.32, 1e-6);
}

TEST(BanditPolicy, FixedHoldsOneSetting) {
    FleetFixture fleet(2);
    fleet.push(5);
    BanditConfig c = no_model_config();
    c.fixed = ReplicaConfig{1500, 700, 128, 0};
    BanditPolicy policy(c);
    for (int i = 0; i < 3; ++i) {
        const Decision d = fleet.decide(policy);
        fleet.apply(d);
        fleet.push(60);
    }
    EXPECT_EQ(fleet.knob("gpu.1.sm_clock_cap_hz").current, 1500e6);
    EXPECT_EQ(fleet.knob("replica.1.batch_cap").current, 128);
}

TEST(BanditConfig, ReadsKeysAndRejectsABadFixedSetting) {
    auto doc = core::ConfigDocument::parse("[policy.bandit]\ndwell_s = 40\nfixed = \"1500,128\"\n", "test.toml");
    const BanditConfig c = BanditConfig::from(doc.root().section("policy").section("bandit"), "m.json");
    EXPECT_EQ(c.dwell_s, 40);
    ASSERT_TRUE(c.fixed.has_value());
    EXPECT_EQ(c.fixed->clock_mhz, 1500);
    EXPECT_EQ(c.fixed->batch_cap, 128);
    EXPECT_EQ(c.space.groups, kBatching | kClocks);  // precision and replica count are never explored
    auto bad = core::ConfigDocument::parse("[policy.bandit]\nfixed = \"fast\"\n", "test.toml");
    EXPECT_THROW((void)BanditConfig::from(bad.root().section("policy").section("bandit"), "m.json"),
                 core::ConfigError);
    auto settle = core::ConfigDocument::parse("[policy.bandit]\ndwell_s = 10\nsettle_s = 20\n", "test.toml");
    EXPECT_THROW((void)BanditConfig::from(settle.root().section("policy").section("bandit"), "m.json"),
                 core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::decide
