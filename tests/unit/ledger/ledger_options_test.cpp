// The [ledger] config section: defaults, bounds, and keys read into LedgerOptions.

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::ledger {
namespace {

TEST(LedgerOptions, DefaultsWhenTheSectionIsMissing) {
    auto doc = core::ConfigDocument::empty();
    const auto options = read_ledger_options(doc.root().section("ledger"), "/var/lib/joulepilot/ledger.db");
    EXPECT_EQ(options.path, "/var/lib/joulepilot/ledger.db");
    EXPECT_EQ(options.raw_retention.value(), 86'400.0);
    EXPECT_EQ(options.downsampled_retention.value(), 30 * 86'400.0);
    EXPECT_FALSE(options.durable_commits);
    doc.reject_unknown_keys();
}

TEST(LedgerOptions, KeysAreRead) {
    auto doc = core::ConfigDocument::parse(R"(
[ledger]
path = "/tmp/x.db"
queue_capacity = 1000
batch_max = 500
batch_interval_ms = 20
raw_retention_s = 7200
downsampled_retention_s = 604800
compaction_interval_s = 30
busy_timeout_ms = 250
durable_commits = true
max_size_mib = 512
)",
                                           "test.toml");
    const auto options = read_ledger_options(doc.root().section("ledger"), "default.db");
    EXPECT_EQ(options.path, "/tmp/x.db");
    EXPECT_EQ(options.queue_capacity, 1000U);
    EXPECT_EQ(options.batch_max, 500U);
    EXPECT_EQ(options.batch_interval.count(), 20);
    EXPECT_EQ(options.raw_retention.value(), 7200.0);
    EXPECT_EQ(options.downsampled_retention.value(), 604800.0);
    EXPECT_EQ(options.compaction_interval.value(), 30.0);
    EXPECT_EQ(options.busy_timeout.count(), 250);
    EXPECT_TRUE(options.durable_commits);
    EXPECT_EQ(options.max_size_mib, 512);
    doc.reject_unknown_keys();
}

TEST(LedgerOptions, OutOfRangeAndUnknownKeysAreErrors) {
    auto doc = core::ConfigDocument::parse("[ledger]\nraw_retention_s = 10\n", "test.toml");
    try {
        (void)read_ledger_options(doc.root().section("ledger"), "l.db");
        FAIL() << "expected a ConfigError";
    } catch (const core::ConfigError& error) {
        EXPECT_NE(std::string(error.what()).find("ledger.raw_retention_s"), std::string::npos)
            << error.what();
    }
    auto typo = core::ConfigDocument::parse("[ledger]\nraw_retention = 7200\n", "test.toml");
    (void)read_ledger_options(typo.root().section("ledger"), "l.db");
    EXPECT_THROW(typo.reject_unknown_keys(), core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::ledger
