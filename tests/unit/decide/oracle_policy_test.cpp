// The oracle's config and its refusal outside the twin. Its planning needs the twin's replica simulator
// and a workload; it is exercised end to end by `joulepilot bench` (docs/benchmarks.md).
#include "decide/oracle_policy.hpp"

#include <gtest/gtest.h>

#include "core/config.hpp"

namespace joulepilot::decide {
namespace {

TEST(OraclePolicy, AnnouncesTheSloBoundByDefaultOrTheSimulatedP99s) {
    auto doc = core::ConfigDocument::parse("[policy.oracle]\nreplan_s = 30\n", "test.toml");
    EXPECT_TRUE(OracleConfig::from(doc.root().section("policy").section("oracle")).announce_slo);
    auto simulated = core::ConfigDocument::parse("[policy.oracle]\nannounce = \"simulated\"\n", "test.toml");
    EXPECT_FALSE(OracleConfig::from(simulated.root().section("policy").section("oracle")).announce_slo);
    auto bad = core::ConfigDocument::parse("[policy.oracle]\nannounce = \"hope\"\n", "test.toml");
    EXPECT_THROW((void)OracleConfig::from(bad.root().section("policy").section("oracle")), core::ConfigError);
}

TEST(OraclePolicy, RefusesToStartWithoutPerfectKnowledgeOfTheLoad) {
    auto created = OraclePolicy::create(OracleConfig{}, PolicyContext{});
    ASSERT_FALSE(created.has_value());
    EXPECT_NE(created.error().message.find("only in the twin"), std::string::npos) << created.error().message;
}

}  // namespace
}  // namespace joulepilot::decide
