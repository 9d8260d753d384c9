#include "decide/registry.hpp"

#include <gtest/gtest.h>

#include "decide/idle_fsm_policy.hpp"
#include "decide/threshold_policy.hpp"

namespace joulepilot::decide {
namespace {

core::ConfigSection policy_section(core::ConfigDocument& doc, std::string_view name) {
    return doc.root().section("policy").section(name);
}

TEST(Registry, NamesInTableOrder) {
    // Later registrations append; these come first, in this order.
    const std::vector<std::string> names = policy_names();
    ASSERT_GE(names.size(), 5U);
    EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5),
              (std::vector<std::string>{"static", "threshold", "idle-fsm", "mpc", "oracle"}));
    EXPECT_EQ(classic_policy_names(), (std::vector<std::string>{"static", "threshold", "idle-fsm"}));
}

TEST(Registry, EveryNameMakesItsPolicyWithDefaults) {
    for (const std::string& name : policy_names()) {
        if (name == "oracle") continue;  // needs the twin: see OracleNeedsTheTwin
        auto doc = core::ConfigDocument::empty();
        auto policy = make_policy(name, policy_section(doc, name));
        ASSERT_TRUE(policy.has_value()) << name << ": " << policy.error().message;
        EXPECT_EQ((*policy)->name(), name);
        EXPECT_NO_THROW(doc.reject_unknown_keys());
    }
}

TEST(Registry, UnknownNameListsTheKnownOnes) {
    auto doc = core::ConfigDocument::empty();
    const auto policy = make_policy("mpcc", policy_section(doc, "mpcc"));
    ASSERT_FALSE(policy.has_value());
    EXPECT_EQ(policy.error().message.rfind("unknown policy 'mpcc'; known policies: static, threshold, idle-fsm, mpc, oracle", 0), 0U)
        << policy.error().message;
}

TEST(Registry, OracleNeedsTheTwin) {
    auto doc = core::ConfigDocument::empty();
    const auto policy = make_policy("oracle", policy_section(doc, "oracle"));
    ASSERT_FALSE(policy.has_value());
    EXPECT_NE(policy.error().message.find("only in the twin"), std::string::npos) << policy.error().message;
}

TEST(Registry, PassesEachPolicyItsOwnSection) {
    auto doc = core::ConfigDocument::parse(
        "[policy.threshold]\nsamples = 20\nknob = \"power\"\n[policy.idle-fsm]\nmin_active = 3\n",
        "test.toml");
    auto threshold = make_policy("threshold", policy_section(doc, "threshold"));
    auto idle = make_policy("idle-fsm", policy_section(doc, "idle-fsm"));
    ASSERT_TRUE(threshold.has_value());
    ASSERT_TRUE(idle.has_value());
    EXPECT_NO_THROW(doc.reject_unknown_keys());
    const auto* t = dynamic_cast<const ThresholdPolicy*>(threshold->get());
    const auto* i = dynamic_cast<const IdleFsmPolicy*>(idle->get());
    ASSERT_NE(t, nullptr);
    ASSERT_NE(i, nullptr);
    EXPECT_EQ(t->config().samples, 20U);
    EXPECT_EQ(t->config().knob, ThresholdConfig::Knob::power);
    EXPECT_EQ(i->config().min_active, 3U);
}

TEST(Registry, UnknownKeyIsRejected) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"static", "[policy.static]\nclock = 1\n"},
        {"threshold", "[policy.threshold]\nsample = 10\n"},
        {"idle-fsm", "[policy.idle-fsm]\nmin_actve = 2\n"},
        {"mpc", "[policy.mpc]\nslo_margn = 0.8\n"},
    };
    for (const auto& [name, toml] : cases) {
        auto doc = core::ConfigDocument::parse(toml, "test.toml");
        auto policy = make_policy(name, policy_section(doc, name));
        ASSERT_TRUE(policy.has_value()) << name;
        try {
            doc.reject_unknown_keys();
            ADD_FAILURE() << name << ": unknown key accepted";
        } catch (const core::ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("policy." + name + "."), std::string::npos) << e.what();
        }
    }
}

TEST(Registry, OutOfRangeValueIsRejected) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"threshold", "[policy.threshold]\nhigh = 1.2\n"},
        {"threshold", "[policy.threshold]\nsamples = -3\n"},
        {"threshold", "[policy.threshold]\nlow = 0.9\n"},  // above the default high
        {"idle-fsm", "[policy.idle-fsm]\nmin_active = 0\n"},
        {"idle-fsm", "[policy.idle-fsm]\ntarget_utilization = 1.5\n"},
        {"idle-fsm", "[policy.idle-fsm]\ntrend_samples = \"sixty\"\n"},
        {"mpc", "[policy.mpc]\nslo_margin = 2\n"},
        {"mpc", "[policy.mpc]\ngroups = \"clocks,turbo\"\n"},
        {"mpc", "[policy.mpc]\nclocks_mhz = \"1980,5000\"\n"},
        {"oracle", "[policy.oracle]\nbatch_caps = \"0\"\n"},
    };
    for (const auto& [name, toml] : cases) {
        auto doc = core::ConfigDocument::parse(toml, "test.toml");
        EXPECT_THROW((void)make_policy(name, policy_section(doc, name)), core::ConfigError) << toml;
    }
}

// A config carries the sections of policies that do not run now (switched to later, or compared): reading
// every known section accepts their keys, still rejects a typo or an unknown policy's table, and still
// refuses a bad value in a section whose policy is not running.
TEST(Registry, SectionsOfPoliciesNotRunningAreReadToo) {
    auto doc = core::ConfigDocument::parse(
        "[policy.mpc]\nslo_margin = 0.9\n[policy.oracle]\nreplan_s = 30\n[policy.threshold]\nsamples = 5\n", "test.toml");
    ASSERT_TRUE(make_policy("static", policy_section(doc, "static")).has_value());
    EXPECT_THROW(doc.reject_unknown_keys(), core::ConfigError);  // only static's section was read
    read_policy_sections(doc.root().section("policy"));  // the oracle cannot run here: not an error
    EXPECT_NO_THROW(doc.reject_unknown_keys());

    auto typo = core::ConfigDocument::parse("[policy.oracle]\nreplan = 30\n[policy.nonesuch]\nx = 1\n", "test.toml");
    read_policy_sections(typo.root().section("policy"));
    try {
        typo.reject_unknown_keys();
        ADD_FAILURE() << "unknown keys accepted";
    } catch (const core::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("policy.oracle.replan"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("policy.nonesuch.x"), std::string::npos) << e.what();
    }

    auto bad = core::ConfigDocument::parse("[policy.mpc]\nslo_margin = 2\n", "test.toml");
    EXPECT_THROW(read_policy_sections(bad.root().section("policy")), core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::decide
