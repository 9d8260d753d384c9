#include "decide/rl_policy.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::setting_of;

// The hand-made fixture network (tests/fixtures/rl/tiny_policy.json): a tanh identity layer, then
// logit 0 = tanh(requests/s per replica) and logit 1 = 0.8: all replicas at full clocks when the load
// per replica is above atanh(0.8) ~ 1.1 requests/s, else half the fleet at 1260 MHz, batch 128.
std::string fixture_text(const std::string& knob_space) {
    std::ifstream in(std::string(JOULEPILOT_TEST_FIXTURES) + "/rl/tiny_policy.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    const auto at = s.find("@KNOB_SPACE@");
    EXPECT_NE(at, std::string::npos);
    if (at != std::string::npos) s.replace(at, 12, knob_space);
    return s;
}

class RlPolicyTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = std::filesystem::temp_directory_path() / ("jp_rl_test_" + std::to_string(::getpid()));
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    std::string write(const std::string& name, const std::string& text) {
        const auto path = m_dir / name;
        std::ofstream(path) << text;
        return path.string();
    }
    RlPolicy policy_for(const std::string& path) {
        RlConfig c;
        c.model_path = path;
        c.decide_interval_s = 10;
        return RlPolicy(c);
    }
    std::filesystem::path m_dir;
};

TEST(PolicyNetwork, ForwardPassMatchesAHandComputation) {
    auto net = learn::PolicyNetwork::parse(fixture_text("k"), "fixture", "k", rl_state_features());
    ASSERT_TRUE(net.has_value()) << net.error().message;
    const std::vector<double> state = {0.5, 0, 0, 0, 0, 0, 1, 0};
    const Eigen::VectorXf& logits = net->logits(state);
    ASSERT_EQ(logits.size(), 2);
    EXPECT_NEAR(logits[0], std::tanh(0.5), 1e-6);
    EXPECT_NEAR(logits[1], 0.8, 1e-6);
    EXPECT_EQ(net->act(state), 1U);
    EXPECT_EQ(net->act(std::vector<double>{3, 0, 0, 0, 0, 0, 1, 0}), 0U);
}

TEST(PolicyNetwork, RefusesBrokenFilesWithTheReason) {
    const auto& f = rl_state_features();
    const auto error_of = [&](const std::string& text, const std::string& space = "k") {
        auto net = learn::PolicyNetwork::parse(text, "w.json", space, f);
        return net ? std::string() : net.error().message;
    };
    EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
    EXPECT_NE(error_of(R"({"format": "other"})").find("not a joulepilot-rl-policy file"), std::string::npos);
    EXPECT_NE(error_of(fixture_text("k"), "other-space").find("another knob space"), std::string::npos);
    std::string shapes = fixture_text("k");
    const std::string second_layer = "\"in\": 8,\n   \"out\": 2";
    shapes.replace(shapes.find(second_layer), second_layer.size(), "\"in\": 7,\n   \"out\": 2");
    EXPECT_NE(error_of(shapes).find("layer 1"), std::string::npos) << error_of(shapes);
    std::string features = fixture_text("k");
    features.replace(features.find("missed_ratio"), 12, "missed_share");
    EXPECT_NE(error_of(features).find("retrain"), std::string::npos);
    EXPECT_EQ(error_of(fixture_text("k")), "");
}

TEST_F(RlPolicyTest, ActsOnTheNetworksChoice) {
    FleetFixture fleet(4);
    const std::string path = write("w.json", fixture_text(knob_space_signature(fleet.knobs())));
    RlPolicy policy = policy_for(path);
    fleet.set("fleet.arrival_rate_rps", 12);  // 3 requests/s per replica: all serving, full clocks
    fleet.knob("gpu.0.sm_clock_cap_hz").current = 1260e6;
    fleet.push(10);
    const Decision busy = fleet.decide(policy);
    EXPECT_FALSE(policy.fallback_reason().has_value());
    EXPECT_EQ(setting_of(busy, "gpu.0.sm_clock_cap_hz"), 1980e6) << busy.rationale;
    EXPECT_FALSE(setting_of(busy, "replica.3.active").has_value());
    fleet.apply(busy);

    fleet.set("fleet.arrival_rate_rps", 2);  // 0.5 per replica: half the fleet at 1260 MHz, batch 128
    fleet.push(10);
    const Decision quiet = fleet.decide(policy);
    EXPECT_EQ(setting_of(quiet, "gpu.0.sm_clock_cap_hz"), 1260e6) << quiet.rationale;
    EXPECT_EQ(setting_of(quiet, "replica.0.batch_cap"), 128);
    EXPECT_EQ(setting_of(quiet, "replica.3.active"), 0);  // the highest index parks first
    EXPECT_EQ(setting_of(quiet, "replica.2.active"), 0);
    EXPECT_FALSE(setting_of(quiet, "replica.1.active").has_value());
}

TEST_F(RlPolicyTest, MissingFileHoldsStaticAndSaysWhyEveryDecision) {
    FleetFixture fleet(2);
    fleet.knob("gpu.1.sm_clock_cap_hz").current = 1200e6;
    fleet.push(10);
    RlPolicy policy = policy_for((m_dir / "absent.json").string());
    const Decision d = fleet.decide(policy);
    EXPECT_EQ(setting_of(d, "gpu.1.sm_clock_cap_hz"), 1980e6);
    EXPECT_NE(d.rationale.find("absent.json"), std::string::npos) << d.rationale;
    EXPECT_NE(d.rationale.find("train rl"), std::string::npos) << d.rationale;
    fleet.push(10);
    EXPECT_NE(fleet.decide(policy).rationale.find("static"), std::string::npos);
}

TEST_F(RlPolicyTest, CorruptOrForeignFileFallsBackToStatic) {
    FleetFixture fleet(2);
    fleet.push(10);
    RlPolicy corrupt = policy_for(write("corrupt.json", "{\"format\": \"joulepilot-rl-policy\", \"version\": 1, "));
    EXPECT_NE(fleet.decide(corrupt).rationale.find("not valid JSON"), std::string::npos);
    RlPolicy foreign = policy_for(write("foreign.json", fixture_text("trained-for-another-fleet")));
    const Decision d = fleet.decide(foreign);
    EXPECT_NE(d.rationale.find("another knob space"), std::string::npos) << d.rationale;
    EXPECT_NE(d.rationale.find("static"), std::string::npos);
}

TEST_F(RlPolicyTest, NaNOrNegativeLoadHoldsStaticForThatDecision) {
    FleetFixture fleet(2);
    RlPolicy policy = policy_for(write("w.json", fixture_text(knob_space_signature(fleet.knobs()))));
    fleet.set("fleet.arrival_rate_rps", -3);
    fleet.push(10);
    EXPECT_NE(fleet.decide(policy).rationale.find("no valid load"), std::string::npos);
    fleet.set("fleet.arrival_rate_rps", std::nan(""));
    fleet.push(10);
    EXPECT_NE(fleet.decide(policy).rationale.find("no valid load"), std::string::npos);
    fleet.set("fleet.arrival_rate_rps", 6);
    fleet.push(10);
    EXPECT_EQ(fleet.decide(policy).rationale.find("static"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::decide
