#include "core/config.hpp"

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

TEST(Config, ReadsValuesWithDefaultsAndBounds) {
    auto doc = ConfigDocument::parse("[twin]\ngpus = 4\nzone = \"GB\"\n[slo]\nttft_s = 0.5\n", "test.toml");
    const auto root = doc.root();
    EXPECT_EQ(root.section("twin").integer("gpus", 8, 1, 1024), 4);
    EXPECT_EQ(root.section("twin").string("zone", "US-CAL-CISO", {"GB", "DE-LU"}), "GB");
    EXPECT_DOUBLE_EQ(root.section("slo").number("ttft_s", 1.0, 0.001, 60), 0.5);
    EXPECT_DOUBLE_EQ(root.section("slo").number("tpot_s", 0.1, 0.001, 60), 0.1);  // default
    EXPECT_TRUE(root.section("missing").has("x") == false);
    EXPECT_NO_THROW(doc.reject_unknown_keys());
}

TEST(Config, OutOfRangeValueNamesKeyFileAndLine) {
    auto doc = ConfigDocument::parse("[twin]\n\ngpus = -3\n", "cfg.toml");
    try {
        (void)doc.root().section("twin").integer("gpus", 8, 1, 1024);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("cfg.toml:3"), std::string::npos) << message;
        EXPECT_NE(message.find("twin.gpus"), std::string::npos) << message;
        EXPECT_NE(message.find("1 to 1024"), std::string::npos) << message;
    }
}

TEST(Config, WrongTypeAndDisallowedStringAreErrors) {
    auto doc = ConfigDocument::parse("a = \"x\"\nb = \"nope\"\nc = 1.5\n", "t.toml");
    EXPECT_THROW((void)doc.root().number("a", 0, 0, 1), ConfigError);
    EXPECT_THROW((void)doc.root().string("b", "", {"yes"}), ConfigError);
    EXPECT_THROW((void)doc.root().integer("c", 0, 0, 10), ConfigError);
}

TEST(Config, UnknownKeysAreListedWithTheirLines) {
    auto doc = ConfigDocument::parse("[twin]\ngpus = 2\ngpsu = 3\n[other]\nx = 1\n", "t.toml");
    (void)doc.root().section("twin").integer("gpus", 8, 1, 1024);
    try {
        doc.reject_unknown_keys();
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("twin.gpsu"), std::string::npos) << message;
        EXPECT_NE(message.find("t.toml:3"), std::string::npos) << message;
        EXPECT_NE(message.find("other.x"), std::string::npos) << message;
        EXPECT_EQ(message.find("twin.gpus"), std::string::npos) << message;
    }
}

TEST(Config, SyntaxErrorsAndMissingFilesNameTheFile) {
    try {
        (void)ConfigDocument::parse("[twin\ngpus = 1\n", "broken.toml");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("broken.toml:1"), std::string::npos) << e.what();
    }
    try {
        (void)ConfigDocument::load("/nonexistent/joulepilot.toml");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/joulepilot.toml"), std::string::npos);
    }
}

TEST(Config, NonFiniteNumbersAreRejected) {
    auto doc = ConfigDocument::parse("x = nan\ny = inf\n", "t.toml");
    EXPECT_THROW((void)doc.root().number("x", 0, -1e9, 1e9), ConfigError);
    EXPECT_THROW((void)doc.root().number("y", 0, -1e9, 1e9), ConfigError);
}

}  // namespace
}  // namespace joulepilot::core
