#include "decide/mpc_policy.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/config.hpp"
#include "fleet_fixture.hpp"
#include "synthetic_model.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::setting_of;

MpcConfig config_with(const std::string& model_path) {
    MpcConfig c;
    c.model_path = model_path;
    return c;
}

// TTFT grows steeply once the load passes ~4 requests/s per replica.
std::shared_ptr<const learn::EnergyModel> synthetic_model(const std::string& signature) {
    return testing::synthetic_energy_model(signature, [](double rps) { return 0.1 * std::exp(rps - 3); });
}

TEST(MpcPolicy, MissingModelFileHoldsStaticAndSaysWhy) {
    FleetFixture fleet(2);
    fleet.knob("gpu.1.sm_clock_cap_hz").current = 1200e6;
    fleet.push(10);
    MpcPolicy policy(config_with("/nonexistent/energy_model.json"));
    const Decision d = fleet.decide(policy);
    EXPECT_EQ(setting_of(d, "gpu.1.sm_clock_cap_hz"), 1980e6);  // back to the static default
    EXPECT_NE(d.rationale.find("/nonexistent/energy_model.json"), std::string::npos) << d.rationale;
    EXPECT_NE(d.rationale.find("static"), std::string::npos);
    ASSERT_TRUE(policy.fallback_reason().has_value());
    // Keeps running: the next decision holds static again without failing.
    fleet.push(10);
    EXPECT_NE(fleet.decide(policy).rationale.find("static"), std::string::npos);
}

TEST(MpcPolicy, CorruptModelFileHoldsStatic) {
    const auto path = std::filesystem::temp_directory_path() / "jp_mpc_corrupt_model.json";
    std::ofstream(path) << "{\"format\": \"joulepilot-energy-model\", \"version\": 1, \"knob_space\": ";
    FleetFixture fleet(2);
    fleet.push(10);
    MpcPolicy policy(config_with(path.string()));
    const Decision d = fleet.decide(policy);
    EXPECT_NE(d.rationale.find("not valid JSON"), std::string::npos) << d.rationale;
    std::filesystem::remove(path);
}

TEST(MpcPolicy, ConsolidatesLightLoadAndSpreadsHeavyLoad) {
    FleetFixture fleet(4);
    MpcConfig c;
    c.park_hold_s = 0;
    c.slo_margin = 0.8;  // the synthetic model's TTFT explodes past ~4 requests/s per replica: plan below it
    MpcPolicy policy(c, synthetic_model(knob_space_signature(fleet.knobs())));
    // Light: 1 request/s in all; one replica covers it (TTFT bound tiny).
    fleet.set("fleet.arrival_rate_rps", 1);
    fleet.set("fleet.prompt_tokens_per_s", 1000);
    fleet.set("fleet.generation_tokens_per_s", 400);
    fleet.push(10);
    Decision light = fleet.decide(policy);
    int parked = 0;
    for (int i = 0; i < 4; ++i) parked += setting_of(light, "replica." + std::to_string(i) + ".active") == 0 ? 1 : 0;
    EXPECT_GE(parked, 2) << light.rationale;
    ASSERT_TRUE(light.predicted.p99_ttft.has_value());
    EXPECT_LE(light.predicted.p99_ttft->value(), 0.8);  // the SLO (1 s) with the margin

    // Heavy: 14 requests/s needs every replica (above ~4/s per replica TTFT explodes).
    MpcPolicy heavy_policy(c, synthetic_model(knob_space_signature(fleet.knobs())));
    fleet.set("fleet.arrival_rate_rps", 14);
    fleet.set("fleet.prompt_tokens_per_s", 14000);
    fleet.set("fleet.generation_tokens_per_s", 5600);
    fleet.push(10);
    const Decision heavy = fleet.decide(heavy_policy);
    for (int i = 0; i < 4; ++i) EXPECT_NE(setting_of(heavy, "replica." + std::to_string(i) + ".active"), 0) << heavy.rationale;
}

// The search predicts target by target over the candidates still in the running; it must pick what an
// exhaustive search over every candidate and every target picks, and announce that candidate's bounds.
TEST(MpcPolicy, TheStagedSearchPicksWhatAnExhaustiveSearchPicks) {
    for (const double rps : {0.5, 2.0, 6.0, 11.0}) {
        FleetFixture fleet(4);
        MpcConfig c;
        c.park_hold_s = 0;
        c.feedback_weight = 0;  // the bounds as the model gives them (the feedback has its own test)
        c.announce_bounds = true;
        const auto model = synthetic_model(knob_space_signature(fleet.knobs()));
        MpcPolicy policy(c, model);
        fleet.set("fleet.arrival_rate_rps", rps);
        fleet.set("fleet.prompt_tokens_per_s", rps * 1000);
        fleet.set("fleet.generation_tokens_per_s", rps * 400);
        fleet.push(10);
        const Decision d = fleet.decide(policy);

        // Constant load: the forecast is the load plus the margin.
        const double grow = 1 + c.forecast_margin;
        const CandidateGrid grid = make_grid(fleet.knobs(), c.space);
        std::vector<float> rows;
        std::vector<std::pair<int, ReplicaConfig>> what;
        for (const ReplicaConfig& rc : grid.configs) {
            for (int n = 1; n <= 4; ++n) {
                rows.insert(rows.end(), {static_cast<float>(rps * grow / n), static_cast<float>(rps * 1000 * grow / n),
                                         static_cast<float>(rps * 400 * grow / n), static_cast<float>(rc.clock_mhz),
                                         static_cast<float>(rc.power_limit_w), static_cast<float>(rc.batch_cap),
                                         static_cast<float>(rc.fp8)});
                what.emplace_back(n, rc);
            }
        }
        std::vector<learn::Prediction> p(what.size());
        ASSERT_TRUE(model->predict(rows, p).has_value());
        double best = std::numeric_limits<double>::infinity();
        std::optional<std::size_t> best_i;
        for (std::size_t i = 0; i < p.size(); ++i) {
            const int n = what[i].first;
            if (p[i].upper[1] > c.slo_margin * 1.0 || p[i].upper[2] > c.slo_margin * 0.1 || p[i].point[3] * n < 0.97 * rps * 400) continue;
            const double w = n * p[i].point[0] + (4 - n) * c.parked_power_w;
            if (w < best) {
                best = w;
                best_i = i;
            }
        }
        ASSERT_EQ(best_i.has_value(), d.predicted.fleet_power.has_value()) << rps << ": " << d.rationale;
        if (!best_i) continue;
        EXPECT_NEAR(d.predicted.fleet_power->value(), best, 1e-6) << rps << ": " << d.rationale;
        EXPECT_NEAR(d.predicted.p99_ttft->value(), p[*best_i].upper[1], 1e-9);
        EXPECT_NEAR(d.predicted.p99_tpot->value(), p[*best_i].upper[2], 1e-9);
        EXPECT_NE(d.rationale.find(fmt::format("{} of 4 replicas", what[*best_i].first)), std::string::npos)
            << rps << ": " << d.rationale;
    }
}

TEST(MpcPolicy, AnnouncesTheLimitsItPlannedUnderByDefault) {
    FleetFixture fleet(4);
    MpcConfig c;
    c.slo_margin = 0.8;
    MpcPolicy policy(c, synthetic_model(knob_space_signature(fleet.knobs())));
    fleet.push(10);
    const Decision d = fleet.decide(policy);
    ASSERT_TRUE(d.predicted.p99_ttft.has_value()) << d.rationale;
    EXPECT_DOUBLE_EQ(d.predicted.p99_ttft->value(), 0.8 * 1.0);  // slo_margin x the SLO, not the tighter bound
    EXPECT_DOUBLE_EQ(d.predicted.p99_tpot->value(), 0.8 * 0.1);

    auto doc = core::ConfigDocument::parse("[policy.mpc]\nannounce = \"bounds\"\n", "test.toml");
    EXPECT_TRUE(MpcConfig::from(doc.root().section("policy").section("mpc"), "m.json").announce_bounds);
    auto bad = core::ConfigDocument::parse("[policy.mpc]\nannounce = \"simulated\"\n", "test.toml");
    EXPECT_THROW((void)MpcConfig::from(bad.root().section("policy").section("mpc"), "m.json"), core::ConfigError);
}

TEST(MpcPolicy, NoValidLoadHoldsStatic) {
    FleetFixture fleet(2);
    fleet.missing("fleet.arrival_rate_rps");
    fleet.push(10);
    MpcPolicy policy(MpcConfig{}, synthetic_model(knob_space_signature(fleet.knobs())));
    EXPECT_NE(fleet.decide(policy).rationale.find("no valid load"), std::string::npos);
}

// Offset-free feedback: the fleet's observed p99 against the model's prediction for the setting running now
// at the load observed now scales the bounds (smoothed, clamped), and the announcement carries the scaled bound.
TEST(MpcPolicy, ObservedLatencyScalesTheBounds) {
    FleetFixture fleet(4);
    const auto model = synthetic_model(knob_space_signature(fleet.knobs()));
    // What the model predicts for the fleet as it runs (4 replicas at the knob defaults) at the fixture's load.
    const CandidateGrid grid = make_grid(fleet.knobs(), SearchSpace{});
    const std::vector<float> now = {5.0F / 4, 5000.0F / 4, 2000.0F / 4, static_cast<float>(grid.defaults.clock_mhz),
                                    static_cast<float>(grid.defaults.power_limit_w),
                                    static_cast<float>(grid.defaults.batch_cap), static_cast<float>(grid.defaults.fp8)};
    std::vector<learn::Prediction> p(1);
    ASSERT_TRUE(model->predict(now, p).has_value());
    const double predicted_ttft = p[0].point[1];
    ASSERT_GT(predicted_ttft, 0);

    MpcConfig c;
    c.feedback_weight = 0.5;
    c.feedback_limit = 4;
    MpcPolicy policy(c, model);
    EXPECT_DOUBLE_EQ(policy.latency_feedback(learn::Target::p99_ttft_s), 1.0);
    fleet.set("service.ttft_p99_seconds", predicted_ttft / 2);  // the fleet does twice as well as predicted
    fleet.push(10);
    Decision d = fleet.decide(policy);
    // Half way (weight 0.5) toward the ratio 1/2 in log space.
    EXPECT_NEAR(policy.latency_feedback(learn::Target::p99_ttft_s), std::sqrt(0.5), 1e-6) << d.rationale;
    EXPECT_NE(d.rationale.find("x0.71 TTFT"), std::string::npos) << d.rationale;

    // A fleet far worse than predicted: the factor grows, but never past the limit.
    fleet.set("service.ttft_p99_seconds", predicted_ttft * 1000);
    for (int i = 0; i < 20; ++i) {
        fleet.push(10);
        d = fleet.decide(policy);
    }
    EXPECT_GT(policy.latency_feedback(learn::Target::p99_ttft_s), 3.99);
    EXPECT_LE(policy.latency_feedback(learn::Target::p99_ttft_s), 4.0 + 1e-12);
    if (d.predicted.p99_ttft) {
        EXPECT_LE(d.predicted.p99_ttft->value(), c.slo_margin * 1.0 + 1e-9);  // still within the margin
    }

    // Turned off: the model's bounds as they are.
    c.feedback_weight = 0;
    MpcPolicy plain(c, model);
    fleet.push(10);
    fleet.decide(plain);
    EXPECT_DOUBLE_EQ(plain.latency_feedback(learn::Target::p99_ttft_s), 1.0);
}

// Drives a 4-replica fleet through a heavy minute and then a light one, so mpc consolidates, then shows it
// a minute with `attainment`; returns the decision that follows. `reduced`: the consolidation happened
// (two replicas parked) before the breach.
struct BurstRun {
    Decision after_breach;
    bool engaged = false;
};
MpcConfig burst_config(double burst_hold_s) {
    MpcConfig c;
    c.park_hold_s = 0;
    c.slo_margin = 0.8;
    c.burst_hold_s = burst_hold_s;
    return c;
}

// A 4-replica fleet and an mpc with the synthetic model and the given burst hold.
struct BurstFleet {
    FleetFixture fleet{4};
    MpcConfig config;
    MpcPolicy policy;
    explicit BurstFleet(double burst_hold_s)
        : config(burst_config(burst_hold_s)), policy(config, synthetic_model(knob_space_signature(fleet.knobs()))) {}
    [[nodiscard]] bool engaged() const { return policy.burst_memory_engaged(fleet.state().now.value()); }
    // `count` decision intervals of 10 s, each observed and decided.
    Decision step(int count = 1) {
        Decision d;
        for (int i = 0; i < count; ++i) {
            fleet.push(10);
            d = fleet.decide(policy);
        }
        return d;
    }
};

void set_load(FleetFixture& fleet, double rps) {
    fleet.set("fleet.arrival_rate_rps", rps);
    fleet.set("fleet.prompt_tokens_per_s", 1000 * rps);
    fleet.set("fleet.generation_tokens_per_s", 400 * rps);
}

// Light load on a fleet with replica 3 parked, and one minute at `attainment`: the first decision.
void breach_while_parked(FleetFixture& fleet, MpcPolicy& policy, double attainment) {
    set_load(fleet, 1);
    fleet.park(3);
    fleet.set("service.slo_attainment_ratio", attainment);
    fleet.push(10);
    fleet.decide(policy);
}

BurstRun breach_after_a_lull(double attainment, bool reduced, double burst_hold_s = 600) {
    FleetFixture fleet(4);
    MpcPolicy policy(burst_config(burst_hold_s), synthetic_model(knob_space_signature(fleet.knobs())));
    auto load = [&](double rps) { set_load(fleet, rps); };
    load(14);  // a burst the whole fleet is needed for
    for (int i = 0; i < 6; ++i) {
        fleet.push(10);
        fleet.decide(policy);
    }
    load(1);  // the lull: the plan consolidates
    for (int i = 0; i < 12; ++i) {
        fleet.push(10);
        fleet.decide(policy);
    }
    if (reduced) {
        fleet.park(2);
        fleet.park(3);
    }
    fleet.set("service.slo_attainment_ratio", attainment);
    fleet.push(10);
    BurstRun run;
    run.after_breach = fleet.decide(policy);
    run.engaged = policy.burst_memory_engaged(fleet.state().now.value());
    return run;
}

int serving_after(const Decision& d, int replicas, const std::vector<int>& parked_before) {
    int serving = 0;
    for (int i = 0; i < replicas; ++i) {
        const auto set = setting_of(d, "replica." + std::to_string(i) + ".active");
        const bool was_parked = std::find(parked_before.begin(), parked_before.end(), i) != parked_before.end();
        serving += set ? (*set >= 0.5 ? 1 : 0) : (was_parked ? 0 : 1);
    }
    return serving;
}

TEST(MpcPolicy, ASevereBreachWithCapacityReducedPlansForTheRecentPeak) {
    const BurstRun run = breach_after_a_lull(0.5, true);
    EXPECT_TRUE(run.engaged);
    EXPECT_TRUE(run.after_breach.hold_capacity);
    EXPECT_NE(run.after_breach.rationale.find("burst memory"), std::string::npos) << run.after_breach.rationale;
    // The plan is for the burst's 14 requests/s again: every replica serves.
    EXPECT_EQ(serving_after(run.after_breach, 4, {2, 3}), 4) << run.after_breach.rationale;
}

TEST(MpcPolicy, AMildBreachOrOneAtFullCapacityLeavesTheForecastAlone) {
    // 97% is under the 99% target but within burst_attainment_drop (5 points): no burst memory.
    const BurstRun mild = breach_after_a_lull(0.97, true);
    EXPECT_FALSE(mild.engaged);
    EXPECT_FALSE(mild.after_breach.hold_capacity);
    EXPECT_LT(serving_after(mild.after_breach, 4, {2, 3}), 4) << mild.after_breach.rationale;
    // Turned off: a severe breach changes nothing either.
    const BurstRun off = breach_after_a_lull(0.5, true, 0);
    EXPECT_FALSE(off.engaged);
    EXPECT_FALSE(off.after_breach.hold_capacity);

    // A fleet at the static settings that misses its SLO: less capacity was not the cause.
    BurstFleet full(600);
    full.fleet.set("service.slo_attainment_ratio", 0.5);
    full.step();
    EXPECT_FALSE(full.engaged());
}

TEST(MpcPolicy, AttainmentBehindTheTargetForLongEngagesTheBurstMemory) {
    // 97% a minute is no severe breach, but kept up while consolidated it leaves the recent attainment
    // under the 99% target.
    BurstFleet parked(600);
    breach_while_parked(parked.fleet, parked.policy, 0.97);
    EXPECT_TRUE(parked.engaged());

    // The same minutes at the static capacity (nothing parked, default knobs): not mpc's doing.
    BurstFleet full(600);
    full.fleet.set("service.slo_attainment_ratio", 0.97);
    full.step(5);
    EXPECT_FALSE(full.engaged());
}

TEST(MpcPolicy, ABurstInTheLoadEngagesTheMemoryBeforeAnyBreach) {
    BurstFleet burst(600);
    FleetFixture& fleet = burst.fleet;
    set_load(fleet, 1);
    burst.step(10);
    EXPECT_FALSE(burst.engaged());
    // 30 requests/s for ten seconds: 300 requests, 30x the mean so far. The SLO never broke.
    for (int i = 0; i < 4; ++i) {
        fleet.knob("gpu." + std::to_string(i) + ".sm_clock_cap_hz").current = 1260e6;
        fleet.knob("replica." + std::to_string(i) + ".batch_cap").current = 64;
    }
    set_load(fleet, 30);
    burst.step();
    set_load(fleet, 1);
    const Decision d = burst.step();
    EXPECT_TRUE(burst.engaged());
    EXPECT_TRUE(d.hold_capacity);
    // No candidate serves 30 requests/s on 4 replicas of the synthetic model: the static settings, not
    // the model's closest candidate.
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(setting_of(d, "gpu." + std::to_string(i) + ".sm_clock_cap_hz"), 1980e6) << d.rationale;
        EXPECT_EQ(setting_of(d, "replica." + std::to_string(i) + ".batch_cap"), 256) << d.rationale;
    }
    EXPECT_EQ(serving_after(d, 4, {}), 4);
    EXPECT_NE(d.rationale.find("the static settings"), std::string::npos) << d.rationale;
}

TEST(MpcPolicy, ASpikeOfAFewRequestsIsNoBurst) {
    // 15 requests in one interval against 0.1/s: 15x the mean, but Poisson noise can do that.
    BurstFleet quiet(600);
    for (const double rps : {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 1.5, 0.1}) {
        set_load(quiet.fleet, rps);
        quiet.step();
    }
    EXPECT_FALSE(quiet.engaged());
}

TEST(MpcPolicy, BurstMemoryLapsesAfterItsHold) {
    BurstFleet burst(120);
    FleetFixture& fleet = burst.fleet;
    MpcPolicy& policy = burst.policy;
    const MpcConfig& c = burst.config;
    breach_while_parked(fleet, policy, 0.5);
    ASSERT_TRUE(burst.engaged());
    // The fleet serves at full capacity again and the SLO recovers; the memory lasts burst_hold_s from
    // the last breach blamed on reduced capacity, then lapses.
    fleet.set_idle(3, false);
    fleet.set("replica.3.state", 2);
    fleet.knob("replica.3.active").current = 1;
    fleet.set("service.slo_attainment_ratio", 1.0);
    burst.step(11);
    EXPECT_TRUE(burst.engaged());
    // The last breach blamed on the parked replica was within burst_watch_s of its wake-up.
    fleet.push(static_cast<int>(c.burst_hold_s));
    const Decision d = fleet.decide(policy);
    EXPECT_FALSE(burst.engaged());
    EXPECT_FALSE(d.hold_capacity);
}

}  // namespace
}  // namespace joulepilot::decide
