// The shield's protections over time: operator rules (bounds, steps, rate limit, deadband), the canary,
// the SLO guard's rollback and back-off, failed writes, durable originals and crash recovery.

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "act/shield/safety_shield.hpp"
#include "core/config.hpp"
#include "support/fake_actuator.hpp"

namespace joulepilot::act {
namespace {

using testing::FakeActuator;
using core::Seconds;

// Four GPUs' clock caps (max 1980 MHz is the default) and one batch cap.
std::vector<Knob> fleet_knobs() {
    std::vector<Knob> knobs;
    for (int i = 0; i < 4; ++i) {
        knobs.push_back({"gpu." + std::to_string(i) + ".sm_clock_cap_hz", "Hz", KnobDomain{210e6, 1980e6, 15e6, {}},
                         1980e6, 1980e6});
    }
    knobs.push_back({"replica.0.batch_cap", "sequences", KnobDomain{8, 512, 0, {8, 64, 256, 512}}, 256, 256});
    return knobs;
}

std::vector<KnobSetting> all_clocks(double hz) {
    std::vector<KnobSetting> s;
    for (int i = 0; i < 4; ++i) s.push_back({"gpu." + std::to_string(i) + ".sm_clock_cap_hz", hz});
    return s;
}

ServiceHealth healthy() { return {0.999, 0.3, 0.020, std::nullopt, std::nullopt, std::nullopt}; }

// Judged tick by tick (confirm 0) unless a test asks for the confirm window.
ShieldSettings acting(double canary_hold_s = 0, double confirm_s = 0) {
    ShieldSettings s;
    s.mode = ShieldMode::act;
    s.allow_unlisted = true;
    s.canary.hold = Seconds(canary_hold_s);
    s.guard.confirm = Seconds(confirm_s);
    return s;
}

std::filesystem::path temp_file(const std::string& name) {
    return std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".json");
}

TEST(ShieldRules, ReadFromConfigAndNarrowTheDomain) {
    auto doc = core::ConfigDocument::parse(R"(
[shield]
mode = "act"
[shield.knobs."gpu.*.sm_clock_cap_hz"]
min = 900e6
step = 100e6
min_interval_s = 30
[shield.knobs."replica.*.batch_cap"]
allow = false
)",
                                           "test.toml");
    const ShieldSettings settings = read_shield_settings(doc.root().section("shield"), ShieldSettings{});
    doc.reject_unknown_keys();
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, settings);

    auto report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 500e6}, {"replica.0.batch_cap", 64}}, "t", ""}, Seconds(0));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::clamped);
    EXPECT_EQ(report.outcomes[0].after, 900e6);
    EXPECT_EQ(report.outcomes[1].outcome, Outcome::refused);
    EXPECT_EQ(fake.value(4), 256);

    // Rate limit: a second change 10 s later is refused, 30 s later it goes through (on a 100 MHz step).
    report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1234e6}}, "t", ""}, Seconds(10));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::refused);
    EXPECT_NE(report.outcomes[0].reason.find("rate limited"), std::string::npos);
    report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1234e6}}, "t", ""}, Seconds(31));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::clamped);
    EXPECT_EQ(fake.value(0), 1200e6);
}

TEST(ShieldRules, UnlistedKnobsAreNotWritableOnANode) {
    ShieldSettings s;
    s.mode = ShieldMode::act;  // allow_unlisted stays false: least privilege
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, s);
    const auto report = shield.submit({all_clocks(1000e6), "t", ""});
    EXPECT_EQ(report.count(Outcome::refused), 4u);
    EXPECT_EQ(fake.applies, 0);
}

TEST(ShieldRules, ConfigErrorsNameTheKey) {
    auto doc = core::ConfigDocument::parse("[shield]\nmode = \"yes\"\n", "bad.toml");
    EXPECT_THROW(read_shield_settings(doc.root().section("shield"), ShieldSettings{}), core::ConfigError);
    auto doc2 = core::ConfigDocument::parse("[shield.knobs.\"gpu.*\"]\nmin = 5\nmax = 1\n", "bad.toml");
    EXPECT_THROW(read_shield_settings(doc2.root().section("shield"), ShieldSettings{}), core::ConfigError);
}

// Out-of-range requests are clamped, and the reason names the knob's bounds and the rule that set them.
TEST(ShieldRules, AClampNamesTheBoundsAndWhereTheyComeFrom) {
    ShieldSettings s = acting();
    KnobRule rule;
    rule.pattern = "gpu.*.sm_clock_cap_hz";
    rule.min = 900e6;
    s.rules.add(rule);
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, s);
    auto report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 300e6}}, "t", ""});
    ASSERT_EQ(report.outcomes[0].outcome, Outcome::clamped);
    const std::string& reason = report.outcomes[0].reason;
    EXPECT_NE(reason.find("clamped to 900000000: 300000000 is outside 900000000..1980000000 Hz"), std::string::npos)
        << reason;
    EXPECT_NE(reason.find("[shield.knobs.\"gpu.*.sm_clock_cap_hz\"] min 900000000"), std::string::npos) << reason;
    EXPECT_NE(reason.find("the knob's own 210000000..1980000000"), std::string::npos) << reason;
    // Above the knob's own domain, with no rule bounds: the domain alone.
    report = shield.submit({{{"replica.0.batch_cap", 4096}}, "t", ""});
    ASSERT_EQ(report.outcomes[0].outcome, Outcome::clamped);
    EXPECT_NE(report.outcomes[0].reason.find("4096 is outside 8..512 sequences"), std::string::npos)
        << report.outcomes[0].reason;
}

// A rule that allows nothing on this machine (a typo in the pattern) or whose bounds leave a knob no value
// is reported when the shield starts, naming the pattern or the knob and the bounds; such a knob's changes
// are refused with the same bounds.
TEST(ShieldRules, RulesThatMatchNothingOrLeaveNoValueAreReportedAtStart) {
    ShieldSettings s = acting();
    s.allow_unlisted = false;
    KnobRule typo;
    typo.pattern = "gpu.*.sm_clok_cap_hz";
    s.rules.add(typo);
    KnobRule impossible;
    impossible.pattern = "replica.*.batch_cap";
    impossible.min = 1000;
    s.rules.add(impossible);
    KnobRule denied;  // deny rules (the actuators' defaults) are not reported even when they match nothing
    denied.pattern = "node.*";
    denied.allowed = false;
    s.rules.add(denied);
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, s);
    const auto& warnings = shield.config_warnings();
    ASSERT_EQ(warnings.size(), 2U);
    EXPECT_NE(warnings[0].find("[shield.knobs.\"gpu.*.sm_clok_cap_hz\"] matches no knob"), std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[0].find("gpu.0.sm_clock_cap_hz"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("replica.0.batch_cap: no value lies inside 1000..512"), std::string::npos)
        << warnings[1];
    const auto report = shield.submit({{{"replica.0.batch_cap", 64}}, "t", ""});
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::refused);
    EXPECT_NE(report.outcomes[0].reason.find("no value lies inside 1000..512 sequences"), std::string::npos)
        << report.outcomes[0].reason;
    EXPECT_EQ(fake.applies, 0);
}

TEST(ShieldRules, DeadbandKeepsSmallMovesUnwritten) {
    ShieldSettings s = acting();
    KnobRule rule;
    rule.pattern = "gpu.*";
    rule.deadband = 100e6;
    s.rules.add(rule);
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, s);
    const auto report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1950e6}}, "t", ""});
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::unchanged);
    EXPECT_EQ(fake.applies, 0);
}

TEST(ShieldGlob, MatchesStarsAnywhere) {
    EXPECT_TRUE(glob_match("gpu.*.power_limit_watts", "gpu.12.power_limit_watts"));
    EXPECT_TRUE(glob_match("*", "anything"));
    EXPECT_TRUE(glob_match("gpu.*", "gpu.0.sm_clock_cap_hz"));
    EXPECT_FALSE(glob_match("gpu.*.power_limit_watts", "gpu.0.sm_clock_cap_hz"));
    EXPECT_FALSE(glob_match("replica.*", "gpu.0"));
}

TEST(ShieldCanary, OneDeviceFirstThenTheRestAfterTheHold) {
    FakeActuator fake(fleet_knobs());
    MemoryAuditSink audit;
    SafetyShield shield({&fake}, acting(30), &audit);
    shield.on_tick(Seconds(0), healthy());
    auto report = shield.submit({all_clocks(1500e6), "mpc", "load is low"}, Seconds(0));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::applied);
    EXPECT_EQ(report.count(Outcome::pending), 3u);
    EXPECT_EQ(fake.value(0), 1500e6);
    EXPECT_EQ(fake.value(1), 1980e6);

    // During the hold, more risky moves wait.
    report = shield.submit({{{"replica.0.batch_cap", 64}}, "mpc", ""}, Seconds(10));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::refused);

    report = shield.on_tick(Seconds(20), healthy());
    EXPECT_TRUE(report.outcomes.empty());
    report = shield.on_tick(Seconds(30), healthy());
    EXPECT_EQ(report.count(Outcome::applied), 3u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1500e6);

    bool saw_canary = false;
    for (const auto& e : audit.events) saw_canary = saw_canary || e.kind == "canary";
    EXPECT_TRUE(saw_canary);
}

TEST(ShieldGuard, RollsBackAHarmfulChangeAtTheFirstBadTickAndBacksOff) {
    FakeActuator fake(fleet_knobs());
    MemoryAuditSink audit;
    SafetyShield shield({&fake}, acting(30), &audit);
    shield.on_tick(Seconds(0), healthy());
    shield.submit({all_clocks(210e6), "harmful", "minimum clocks"}, Seconds(0));
    EXPECT_EQ(fake.value(0), 210e6);

    // Still fine one tick later; then TPOT jumps on the canary: rolled back at that tick, the rest never goes.
    EXPECT_TRUE(shield.on_tick(Seconds(1), healthy()).outcomes.empty());
    ServiceHealth slow = healthy();
    slow.tpot_p99_s = 0.09;  // +70% of the 0.1 s SLO
    const auto report = shield.on_tick(Seconds(2), slow);
    EXPECT_EQ(report.count(Outcome::rolled_back), 1u);
    EXPECT_EQ(report.count(Outcome::refused), 3u);  // the canary's pending rest
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1980e6);
    EXPECT_EQ(shield.counters().rollbacks, 1u);

    // The same move is backed off; a move back toward the default is not.
    auto again = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "harmful", ""}, Seconds(60));
    EXPECT_EQ(again.outcomes[0].outcome, Outcome::refused);
    EXPECT_NE(again.outcomes[0].reason.find("backed off"), std::string::npos);
    again = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "harmful", ""}, Seconds(700));
    EXPECT_EQ(again.outcomes[0].outcome, Outcome::applied);

    bool saw_rollback = false;
    for (const auto& e : audit.events) saw_rollback = saw_rollback || (e.kind == "rollback" && e.after == 1980e6);
    EXPECT_TRUE(saw_rollback);
}

// A burst shorter than the confirm window leaves the move in place; a breach that holds for the whole window
// rolls it back, and the reason says for how long it held.
TEST(ShieldGuard, ABreachMustHoldForTheConfirmWindow) {
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(0, 60));
    EXPECT_EQ(ShieldSettings{}.guard.confirm.value(), 60);  // the default
    shield.on_tick(Seconds(0), healthy());
    shield.submit({all_clocks(1005e6), "p", ""}, Seconds(0));
    ServiceHealth slow = healthy();
    slow.ttft_p99_s = 0.6;  // +30% of the 1 s SLO over before
    for (int t = 1; t <= 30; ++t) EXPECT_TRUE(shield.on_tick(Seconds(t), slow).outcomes.empty()) << t;
    EXPECT_TRUE(shield.on_tick(Seconds(31), healthy()).outcomes.empty());  // the burst passed: the clock resets
    for (int t = 32; t < 92; ++t) EXPECT_TRUE(shield.on_tick(Seconds(t), slow).outcomes.empty()) << t;
    EXPECT_EQ(fake.value(0), 1005e6);
    const auto report = shield.on_tick(Seconds(92), slow);  // 60 s of breach since t = 32
    EXPECT_EQ(report.count(Outcome::rolled_back), 4u);
    EXPECT_NE(report.outcomes[0].reason.find("breached for 60 s"), std::string::npos) << report.outcomes[0].reason;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1980e6);
}

// A severe breach (attainment more than severe_attainment_drop under its target, and under before) does not
// wait for the confirm window; a mild one does.
TEST(ShieldGuard, ASevereBreachIsRolledBackAtOnce) {
    const SloTargets slo;  // 99%
    const GuardSettings guard;
    ServiceHealth now = healthy();
    now.slo_attainment = 0.96;
    EXPECT_FALSE(severe_breach(healthy(), now, guard, slo));  // 3 points under: mild
    now.slo_attainment = 0.90;
    EXPECT_TRUE(severe_breach(healthy(), now, guard, slo));
    ServiceHealth already = healthy();
    already.slo_attainment = 0.85;
    EXPECT_FALSE(severe_breach(already, now, guard, slo));  // it was worse before the change
    already.slo_attainment = 0.92;
    EXPECT_FALSE(severe_breach(already, now, guard, slo));  // already missing, slipped 2 points: not severe

    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(0, 60));
    shield.on_tick(Seconds(0), healthy());
    shield.submit({all_clocks(1005e6), "p", ""}, Seconds(0));
    ServiceHealth mild = healthy();
    mild.slo_attainment = 0.97;
    EXPECT_TRUE(shield.on_tick(Seconds(1), mild).outcomes.empty());
    const auto report = shield.on_tick(Seconds(2), now);
    EXPECT_EQ(report.count(Outcome::rolled_back), 4u);
    EXPECT_NE(report.outcomes[0].reason.find("severe"), std::string::npos) << report.outcomes[0].reason;
}

// A minute's attainment rests on a few hundred requests: a reading under the target by less than
// attainment_z standard errors of that share is noise, not a breach; by more, or with many requests, it is.
TEST(ShieldGuard, AttainmentUnderTheTargetByLessThanItsNoiseIsNoBreach) {
    const SloTargets slo;  // 99%
    GuardSettings guard;   // attainment_z 2
    EXPECT_NEAR(attainment_allowance(0.99, 400.0, guard), 2 * std::sqrt(0.99 * 0.01 / 400), 1e-12);  // ~1 point
    EXPECT_EQ(attainment_allowance(0.99, std::nullopt, guard), 0.0);
    ServiceHealth now = healthy();
    now.slo_attainment = 0.985;
    now.attainment_requests = 400;
    EXPECT_FALSE(guard_breach(healthy(), now, guard, slo).has_value());
    now.attainment_requests = 40000;  // the same share of many requests: 0.1 point of noise
    const auto why = guard_breach(healthy(), now, guard, slo);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("0.10 points of noise at 40000 requests"), std::string::npos) << *why;
    now.attainment_requests = std::nullopt;  // no count: any reading under the target
    EXPECT_TRUE(guard_breach(healthy(), now, guard, slo).has_value());
    guard.attainment_z = 0;
    now.attainment_requests = 400;
    EXPECT_TRUE(guard_breach(healthy(), now, guard, slo).has_value());
    auto doc = core::ConfigDocument::parse("[shield.guard]\nattainment_z = 0\nattainment_window_s = 30\n", "t.toml");
    const ShieldSettings read = read_shield_settings(doc.root().section("shield"), ShieldSettings{});
    doc.reject_unknown_keys();
    EXPECT_EQ(read.guard.attainment_z, 0.0);
    EXPECT_EQ(read.guard.attainment_window.value(), 30.0);

    // The shield counts the requests from the arrival rate over the attainment window: 5/s x 60 s = 300
    // requests, 1.15 points of noise. 98.5% rides it out; 97% does not.
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(0));
    ServiceHealth steady = healthy();
    steady.arrival_rate = 5;
    shield.on_tick(Seconds(0), steady);
    shield.submit({all_clocks(1500e6), "p", ""}, Seconds(0));
    ServiceHealth noisy = steady;
    noisy.slo_attainment = 0.985;
    EXPECT_TRUE(shield.on_tick(Seconds(1), noisy).outcomes.empty());
    ServiceHealth worse = steady;
    worse.slo_attainment = 0.97;
    const auto report = shield.on_tick(Seconds(2), worse);
    ASSERT_EQ(report.count(Outcome::rolled_back), 4u);
    EXPECT_NE(report.outcomes[0].reason.find("at 300 requests"), std::string::npos) << report.outcomes[0].reason;
}

// Back-off doubles while the same move keeps failing, and starts from the base again once a move on that knob
// has passed its probation.
TEST(ShieldGuard, BackOffStartsAgainAfterAPassedProbation) {
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(0));
    ServiceHealth slow = healthy();
    slow.ttft_p99_s = 0.6;
    auto fail_at = [&](double t) {
        shield.on_tick(Seconds(t), healthy());
        EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "p", ""}, Seconds(t)).count(Outcome::applied), 1u);
        EXPECT_EQ(shield.on_tick(Seconds(t + 1), slow).count(Outcome::rolled_back), 1u);
    };
    fail_at(0);       // backed off 600 s
    fail_at(700);     // backed off 1,200 s: still refused at 700 + 1 + 1,000
    EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "p", ""}, Seconds(1701)).count(Outcome::refused), 1u);
    // After the back-off, the move passes its probation (120 s watch) ...
    shield.on_tick(Seconds(2000), healthy());
    EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "p", ""}, Seconds(2000)).count(Outcome::applied), 1u);
    for (int t = 2001; t <= 2130; t += 10) EXPECT_TRUE(shield.on_tick(Seconds(t), healthy()).outcomes.empty());
    shield.submit({{{"gpu.0.sm_clock_cap_hz", 1980e6}}, "p", ""}, Seconds(2140));  // back to the default
    // ... so the next failure backs off 600 s again, not 2,400 s.
    fail_at(2200);
    EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "p", ""}, Seconds(2700)).count(Outcome::refused), 1u);
    shield.on_tick(Seconds(2802), healthy());
    EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1005e6}}, "p", ""}, Seconds(2802)).count(Outcome::applied), 1u);
}

TEST(ShieldGuard, MovesTowardTheDefaultAreNeitherDelayedNorJudged) {
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(0));
    shield.on_tick(Seconds(0), healthy());
    shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "p", ""}, Seconds(0));
    // The probation ends after the watch time; then the policy raises the clock while the SLO is missed.
    shield.on_tick(Seconds(200), healthy());
    ServiceHealth bad = healthy();
    bad.slo_attainment = 0.9;
    shield.submit({{{"gpu.0.sm_clock_cap_hz", 1500e6}}, "p", ""}, Seconds(201));
    const auto report = shield.on_tick(Seconds(202), bad);
    EXPECT_TRUE(report.outcomes.empty());
    EXPECT_EQ(fake.value(0), 1500e6);
}

TEST(ShieldGuard, JudgesAgainstThePreChangeWindow) {
    GuardSettings guard;
    const SloTargets slo;
    ServiceHealth before = healthy();
    ServiceHealth after = healthy();
    after.tpot_p99_s = 0.025;  // +5% of the SLO: allowed
    EXPECT_FALSE(guard_breach(before, after, guard, slo));
    after.slo_attainment = 0.95;  // below target and worse than before
    EXPECT_TRUE(guard_breach(before, after, guard, slo));
    before.slo_attainment = 0.90;  // already worse before: the change did not cause it
    EXPECT_FALSE(guard_breach(before, after, guard, slo));
    guard.latency_basis = LatencyBasis::before;
    before = after = healthy();
    after.ttft_p99_s = 0.36;  // +20% of the pre-change value
    EXPECT_TRUE(guard_breach(before, after, guard, slo));
    before.throughput = 1000;
    before.arrival_rate = 10;
    after = before;
    after.throughput = 500;
    after.arrival_rate = 5;  // half the load, half the throughput: no loss
    EXPECT_FALSE(guard_breach(before, after, GuardSettings{}, slo));
    after.arrival_rate = 10;
    EXPECT_TRUE(guard_breach(before, after, GuardSettings{}, slo));
}

TEST(ShieldGuard, JudgesAgainstTheAnnouncementWhenThePolicyMadeOne) {
    const GuardSettings guard;  // judge_against = announced by default
    const SloTargets slo;       // 1 s TTFT, 0.1 s TPOT, 99%
    const ServiceHealth before = healthy();  // p99 TTFT 0.3 s
    Announcement announced;
    announced.ttft_p99_s = 0.8;  // the policy predicts parking costs latency, within the SLO
    ServiceHealth after = healthy();
    after.ttft_p99_s = 0.75;  // +45% of the SLO over before, but within what was announced
    EXPECT_TRUE(guard_breach(before, after, guard, slo));  // no announcement: judged as before
    EXPECT_FALSE(guard_breach(before, after, guard, slo, announced));
    after.ttft_p99_s = 0.89;  // 9% of the SLO over the announcement: allowed
    EXPECT_FALSE(guard_breach(before, after, guard, slo, announced));
    after.ttft_p99_s = 0.95;  // 15% of the SLO over the announcement
    const auto why = guard_breach(before, after, guard, slo, announced);
    ASSERT_TRUE(why);
    EXPECT_NE(why->find("announced"), std::string::npos) << *why;
    // The SLO attainment is always a hard limit, announcement or not.
    after = healthy();
    after.slo_attainment = 0.97;
    EXPECT_TRUE(guard_breach(before, after, guard, slo, announced));
    // TPOT was not announced: judged against the pre-change window.
    after = healthy();
    after.tpot_p99_s = 0.045;  // +25% of the SLO
    EXPECT_TRUE(guard_breach(before, after, guard, slo, announced));
    // A throughput lower bound: judged against it, not against the pre-change window.
    Announcement serves;
    serves.throughput = 900;
    ServiceHealth busy = healthy();
    busy.throughput = 1000;
    ServiceHealth fewer = busy;
    fewer.throughput = 850;  // 5.6% under the announced bound
    EXPECT_FALSE(guard_breach(busy, fewer, guard, slo, serves));
    fewer.throughput = 700;
    EXPECT_TRUE(guard_breach(busy, fewer, guard, slo, serves));
}

TEST(ShieldGuard, JudgeAgainstBeforeIgnoresAnnouncements) {
    GuardSettings guard;
    guard.judge_against = JudgeAgainst::before;
    const SloTargets slo;
    Announcement announced;
    announced.ttft_p99_s = 0.8;
    ServiceHealth after = healthy();
    after.ttft_p99_s = 0.75;
    EXPECT_TRUE(guard_breach(healthy(), after, guard, slo, announced));
    after.ttft_p99_s = 0.35;  // +5% of the SLO over before
    EXPECT_FALSE(guard_breach(healthy(), after, guard, slo, announced));
}

TEST(ShieldGuard, AnAnnouncementAboveTheSloIsRefused) {
    const SloTargets slo;
    Announcement announced;
    EXPECT_FALSE(announcement_refusal(announced, slo));
    announced.ttft_p99_s = 0.99;
    announced.tpot_p99_s = 0.1;
    EXPECT_FALSE(announcement_refusal(announced, slo));
    announced.ttft_p99_s = 1.2;
    EXPECT_TRUE(announcement_refusal(announced, slo));
    announced.ttft_p99_s = 0.5;
    announced.tpot_p99_s = 0.11;
    EXPECT_TRUE(announcement_refusal(announced, slo));
    announced.tpot_p99_s = std::nan("");
    EXPECT_TRUE(announcement_refusal(announced, slo));
}

// A parking-like move (every clock down: latency rises within the SLO) announced by the policy sticks;
// the same move observed worse than announced is rolled back at that tick.
TEST(ShieldGuard, AnAnnouncedMoveSticksUntilTheServiceIsWorseThanAnnounced) {
    FakeActuator fake(fleet_knobs());
    MemoryAuditSink audit;
    SafetyShield shield({&fake}, acting(0), &audit);
    shield.on_tick(Seconds(0), healthy());
    ChangeRequest move{all_clocks(1005e6), "mpc", "fewer joules", "p99 TTFT 0.700 s"};
    move.announced.ttft_p99_s = 0.7;
    auto report = shield.submit(move, Seconds(0));
    EXPECT_EQ(report.count(Outcome::applied), 4u);
    ServiceHealth slower = healthy();
    slower.ttft_p99_s = 0.68;  // +38% of the SLO over before, as the policy announced
    for (int t = 1; t < 10; ++t) EXPECT_TRUE(shield.on_tick(Seconds(t), slower).outcomes.empty());
    EXPECT_EQ(fake.value(0), 1005e6);
    slower.ttft_p99_s = 0.85;  // 15% of the SLO over the announcement
    report = shield.on_tick(Seconds(10), slower);
    EXPECT_EQ(report.count(Outcome::rolled_back), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1980e6);
    EXPECT_NE(report.outcomes[0].reason.find("announced"), std::string::npos) << report.outcomes[0].reason;

    // With judge_against = before, the same announced move is rolled back at the first slower tick.
    FakeActuator fake2(fleet_knobs());
    ShieldSettings s = acting(0);
    s.guard.judge_against = JudgeAgainst::before;
    SafetyShield strict({&fake2}, s);
    strict.on_tick(Seconds(0), healthy());
    strict.submit(move, Seconds(0));
    slower.ttft_p99_s = 0.68;
    EXPECT_EQ(strict.on_tick(Seconds(1), slower).count(Outcome::rolled_back), 4u);
}

TEST(ShieldGuard, AnOptimisticAnnouncementDoesNotShieldAHarmfulMove) {
    // A canaried move announcing less latency than it causes: rolled back, its rest never goes out.
    FakeActuator fake(fleet_knobs());
    SafetyShield shield({&fake}, acting(30));
    shield.on_tick(Seconds(0), healthy());
    ChangeRequest harmful{all_clocks(210e6), "harmful", "minimum clocks"};
    harmful.announced.tpot_p99_s = 0.02;
    shield.submit(harmful, Seconds(0));
    ServiceHealth slow = healthy();
    slow.tpot_p99_s = 0.09;
    const auto report = shield.on_tick(Seconds(2), slow);
    EXPECT_EQ(report.count(Outcome::rolled_back), 1u);
    EXPECT_EQ(report.count(Outcome::refused), 3u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1980e6);
}

TEST(ShieldGuard, AMoveAnnouncedAboveTheSloIsRefusedUpFrontWithTheReason) {
    FakeActuator fake(fleet_knobs());
    MemoryAuditSink audit;
    SafetyShield shield({&fake}, acting(0), &audit);
    shield.on_tick(Seconds(0), healthy());
    ChangeRequest move{all_clocks(1005e6), "mpc", "fewer joules"};
    move.announced.ttft_p99_s = 1.3;
    auto report = shield.submit(move, Seconds(0));
    EXPECT_EQ(report.count(Outcome::refused), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fake.value(i), 1980e6);
    ASSERT_FALSE(audit.events.empty());
    EXPECT_NE(audit.events.front().reason.find("above the 1.000 s SLO"), std::string::npos)
        << audit.events.front().reason;
    // A move back toward the defaults is never refused for its announcement.
    shield.submit({all_clocks(1500e6), "p", ""}, Seconds(0));
    ChangeRequest back{all_clocks(1980e6), "mpc", "back"};
    back.announced.ttft_p99_s = 1.3;
    shield.on_tick(Seconds(200), healthy());
    report = shield.submit(back, Seconds(300));
    EXPECT_EQ(report.count(Outcome::applied), 4u);
}

TEST(ShieldGuard, JudgeAgainstIsReadFromTheConfig) {
    auto doc = core::ConfigDocument::parse("[shield.guard]\njudge_against = \"before\"\n", "ok.toml");
    EXPECT_EQ(read_shield_settings(doc.root().section("shield"), ShieldSettings{}).guard.judge_against,
              JudgeAgainst::before);
    EXPECT_EQ(ShieldSettings{}.guard.judge_against, JudgeAgainst::announced);
    auto bad = core::ConfigDocument::parse("[shield.guard]\njudge_against = \"after\"\n", "bad.toml");
    EXPECT_THROW(read_shield_settings(bad.root().section("shield"), ShieldSettings{}), core::ConfigError);
}

TEST(ShieldFailures, AFailedWriteFallsBackAndRepeatedFailuresDisableTheKnob) {
    FakeActuator fake(fleet_knobs());
    MemoryAuditSink audit;
    ShieldSettings s = acting();
    s.max_failures = 2;
    SafetyShield shield({&fake}, s, &audit);
    fake.fail_apply = true;
    auto report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "p", ""}, Seconds(0));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::failed);
    report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "p", ""}, Seconds(10));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::failed);
    fake.fail_apply = false;
    report = shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "p", ""}, Seconds(20));
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::refused);
    EXPECT_NE(report.outcomes[0].reason.find("disabled"), std::string::npos);
    EXPECT_TRUE(shield.status()[0].disabled);
    bool saw_disable = false;
    for (const auto& e : audit.events) saw_disable = saw_disable || e.kind == "disable";
    EXPECT_TRUE(saw_disable);
}

TEST(ShieldDurability, OriginalsAreOnDiskBeforeTheFirstWriteAndRecoveredAfterACrash) {
    const auto file = temp_file("jp-shield-state");
    std::filesystem::remove(file);
    FakeActuator fake(fleet_knobs());
    ShieldSettings s = acting();
    s.state_file = file;
    const auto crash_copy = temp_file("jp-shield-crash");
    {
        SafetyShield shield({&fake}, s);
        ASSERT_TRUE(shield.recover().has_value());
        shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}, {"replica.0.batch_cap", 64}}, "p", ""});
        ASSERT_TRUE(std::filesystem::exists(file));
        // What a SIGKILL would leave behind: the file as it is now (the destructor below restores and removes it).
        std::filesystem::copy_file(file, crash_copy, std::filesystem::copy_options::overwrite_existing);
    }
    EXPECT_FALSE(std::filesystem::exists(file));
    EXPECT_EQ(fake.value(0), 1980e6);

    // The crashed run left the hardware changed and the file on disk.
    std::filesystem::rename(crash_copy, file);
    fake.apply({std::vector<KnobSetting>{{"gpu.0.sm_clock_cap_hz", 1000e6}, {"replica.0.batch_cap", 64}}});
    SafetyShield next({&fake}, s);
    // Nothing is written before recovery.
    EXPECT_EQ(next.submit({{{"gpu.1.sm_clock_cap_hz", 1000e6}}, "p", ""}).outcomes[0].outcome, Outcome::refused);
    auto recovered = next.recover();
    ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
    EXPECT_EQ(recovered->count(Outcome::restored), 2u);
    EXPECT_EQ(fake.forgets, 1);  // the originals are the actuator's baseline again
    EXPECT_EQ(fake.value(0), 1980e6);
    EXPECT_EQ(fake.value(4), 256);
    EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(ShieldDurability, ACorruptStateFileIsReportedNeverGuessed) {
    const auto file = temp_file("jp-shield-corrupt");
    std::ofstream(file) << "{not json";
    FakeActuator fake(fleet_knobs());
    ShieldSettings s = acting();
    s.state_file = file;
    SafetyShield shield({&fake}, s);
    const auto recovered = shield.recover();
    ASSERT_FALSE(recovered.has_value());
    EXPECT_NE(recovered.error().message.find("corrupt"), std::string::npos);
    EXPECT_EQ(shield.submit({{{"gpu.0.sm_clock_cap_hz", 1000e6}}, "p", ""}).outcomes[0].outcome, Outcome::refused);
    std::filesystem::remove(file);
}

TEST(ShieldProperty, AnySequenceOfRequestsTicksAndRollbacksEndsAtTheOriginals) {
    rc::check([](const std::vector<std::tuple<int, int, bool>>& steps) {
        FakeActuator fake(fleet_knobs());
        SafetyShield shield({&fake}, acting(*rc::gen::inRange(0, 40)));
        double t = 0;
        for (const auto& [knob, value, bad] : steps) {
            t += 5;
            ServiceHealth h = healthy();
            if (bad) h.slo_attainment = 0.5;
            shield.on_tick(Seconds(t), h);
            const int k = std::abs(knob) % 5;
            const std::string name = k < 4 ? "gpu." + std::to_string(k) + ".sm_clock_cap_hz" : "replica.0.batch_cap";
            shield.submit({{{name, static_cast<double>(value) * 1e6}}, "prop", ""}, Seconds(t));
        }
        shield.restore_all(Seconds(t + 1), "end");
        for (int i = 0; i < 4; ++i) RC_ASSERT(fake.value(i) == 1980e6);
        RC_ASSERT(fake.value(4) == 256.0);
    });
}

}  // namespace
}  // namespace joulepilot::act
