#include "act/shield/safety_shield.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "support/fake_actuator.hpp"

namespace joulepilot::act {
namespace {

using testing::FakeActuator;
using testing::two_test_knobs;

TEST(SafetyShield, ObserveModeWritesNothing) {
    FakeActuator fake(two_test_knobs());
    SafetyShield shield({&fake}, ShieldMode::observe);
    const auto report = shield.submit({{{"gpu.0.power_limit_watts", 400}}, "test", "why"});
    ASSERT_EQ(report.outcomes.size(), 1u);
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::not_written);
    EXPECT_EQ(fake.applies, 0);
    EXPECT_EQ(fake.value(0), 700);
}

TEST(SafetyShield, ActModeSavesBeforeTheFirstWriteAndRestores) {
    FakeActuator fake(two_test_knobs());
    {
        SafetyShield shield({&fake}, ShieldMode::act);
        auto report = shield.submit({{{"gpu.0.power_limit_watts", 400}}, "test", ""});
        EXPECT_EQ(report.outcomes[0].outcome, Outcome::applied);
        EXPECT_EQ(report.outcomes[0].before, 700);
        EXPECT_EQ(report.outcomes[0].after, 400);
        report = shield.submit({{{"gpu.0.power_limit_watts", 300}}, "test", ""});
        EXPECT_EQ(fake.saves, 1);  // saved once, before the first write only
        EXPECT_EQ(fake.value(0), 300);
        EXPECT_EQ(shield.knob_space().get("gpu.0.power_limit_watts")->current, 300);
    }
    // The shield's destructor restored the original.
    EXPECT_EQ(fake.restores, 1);
    EXPECT_EQ(fake.value(0), 700);
}

TEST(SafetyShield, ClampsRefusesUnknownAndRespectsTheAllowList) {
    FakeActuator fake(two_test_knobs());
    SafetyShield shield({&fake}, ShieldMode::act, {"gpu.0.power_limit_watts"});
    const auto report = shield.submit({{{"gpu.0.power_limit_watts", 50},
                                        {"replica.0.batch_cap", 64},
                                        {"gpu.9.nothing", 1},
                                        {"gpu.0.power_limit_watts", std::nan("")}},
                                       "test",
                                       ""});
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::clamped);
    EXPECT_EQ(report.outcomes[0].after, 200);
    EXPECT_EQ(report.outcomes[1].outcome, Outcome::refused);
    EXPECT_NE(report.outcomes[1].reason.find("not allowed by the config"), std::string::npos);
    EXPECT_EQ(report.outcomes[2].outcome, Outcome::refused);
    EXPECT_EQ(report.outcomes[3].outcome, Outcome::refused);
    EXPECT_EQ(fake.value(1), 256);
}

TEST(SafetyShield, AFailedWriteIsReportedAndLeavesTheKnob) {
    FakeActuator fake(two_test_knobs());
    fake.fail_apply = true;
    SafetyShield shield({&fake}, ShieldMode::act);
    const auto report = shield.submit({{{"gpu.0.power_limit_watts", 400}}, "test", ""});
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::failed);
    EXPECT_EQ(report.outcomes[0].after, 700);
    EXPECT_NE(report.outcomes[0].reason.find("write refused"), std::string::npos);
}

TEST(SafetyShield, NoWriteWithoutASavedOriginal) {
    FakeActuator fake(two_test_knobs());
    fake.fail_save = true;
    SafetyShield shield({&fake}, ShieldMode::act);
    const auto report = shield.submit({{{"gpu.0.power_limit_watts", 400}}, "test", ""});
    EXPECT_EQ(report.outcomes[0].outcome, Outcome::failed);
    EXPECT_EQ(fake.applies, 0);
}

TEST(SafetyShield, AnySequenceOfChangesRestoresTheOriginals) {
    rc::check([](const std::vector<std::pair<bool, double>>& changes) {
        FakeActuator fake(two_test_knobs());
        SafetyShield shield({&fake}, ShieldMode::act);
        for (const auto& [first, value] : changes) {
            shield.submit({{{first ? "gpu.0.power_limit_watts" : "replica.0.batch_cap", value}}, "prop", ""});
        }
        RC_ASSERT(shield.restore_all().has_value());
        RC_ASSERT(fake.value(0) == 700.0);
        RC_ASSERT(fake.value(1) == 256.0);
    });
}

TEST(SafetyShield, ParsesModes) {
    EXPECT_EQ(parse_shield_mode("dry-run").value(), ShieldMode::dry_run);
    EXPECT_FALSE(parse_shield_mode("yolo"));
}

}  // namespace
}  // namespace joulepilot::act
