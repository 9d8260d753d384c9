// Retention with downsampling: complete minutes become 1-minute aggregates (min/mean/max/count), raw
// samples go once past raw retention (never before they are downsampled), aggregates go once past
// their own retention; compaction also runs by itself in the writer thread. Raw samples live in one
// block per series and minute, so retention removes raw data a whole minute at a time.

#include <gtest/gtest.h>

#include <thread>

#include "core/clock.hpp"
#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::TempFolder;
using testing::test_options;

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kDay = 86'400 * kSecond;

// Ten minutes of 1 s samples whose value is the second within the minute (0..59).
void write_ten_minutes(Ledger& ledger, SeriesId id) {
    std::vector<Sample> samples;
    for (std::int64_t s = 0; s < 600; ++s) samples.push_back({id, s * kSecond, static_cast<double>(s % 60)});
    ASSERT_TRUE(ledger.append(samples));
    ASSERT_TRUE(ledger.flush());
}

TEST(LedgerCompaction, DownsamplesCompleteMinutesThenAppliesRetention) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));  // raw 1 day, aggregates 30 days
    const auto id = ledger->series({"gpu.0.power_watts", "W", "measured"});
    write_ten_minutes(*ledger, id);
    const auto& reader = ledger->reader();

    // At 10:30 the minutes up to 9:00 are complete and past the one-minute grace.
    ASSERT_TRUE(ledger->compact(10 * kMinute + 30 * kSecond));
    auto minutes = reader.minutes("gpu.0.power_watts", 0, kDay).value();
    ASSERT_EQ(minutes.size(), 9U);
    for (std::size_t m = 0; m < minutes.size(); ++m) {
        EXPECT_EQ(minutes[m], (MinuteAggregate{static_cast<std::int64_t>(m) * kMinute, 0.0, 29.5, 59.0, 60}));
    }
    EXPECT_EQ(reader.samples("gpu.0.power_watts", 0, kDay).value().size(), 600U);  // raw still within a day
    EXPECT_EQ(ledger->stats().compactions, 1U);

    // A day and five minutes later: the last minute is aggregated, raw before 5:00 is past retention.
    ASSERT_TRUE(ledger->compact(kDay + 5 * kMinute));
    EXPECT_EQ(reader.minutes("gpu.0.power_watts", 0, kDay).value().size(), 10U);
    const auto raw = reader.samples("gpu.0.power_watts", 0, kDay).value();
    ASSERT_EQ(raw.size(), 300U);
    EXPECT_EQ(raw.front().t_ms, 5 * kMinute);

    // 31 days later everything is past both retentions.
    ASSERT_TRUE(ledger->compact(31 * kDay));
    EXPECT_TRUE(reader.minutes("gpu.0.power_watts", 0, kDay).value().empty());
    EXPECT_TRUE(reader.samples("gpu.0.power_watts", 0, kDay).value().empty());
}

TEST(LedgerCompaction, RawIsNeverDeletedBeforeItIsDownsampled) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    const auto id = ledger->series({"x", "W", "measured"});
    write_ten_minutes(*ledger, id);
    // The first compaction happens long after the data: it still aggregates before it deletes.
    ASSERT_TRUE(ledger->compact(2 * kDay));
    EXPECT_TRUE(ledger->reader().samples("x", 0, kDay).value().empty());
    const auto minutes = ledger->reader().minutes("x", 0, kDay).value();
    ASSERT_EQ(minutes.size(), 10U);
    EXPECT_EQ(minutes.back(), (MinuteAggregate{9 * kMinute, 0.0, 29.5, 59.0, 60}));
}

TEST(LedgerCompaction, ShorterRetentionFromOptions) {
    TempFolder folder;
    auto options = test_options(folder.file("l.db"));
    options.raw_retention = core::Seconds(300);
    options.downsampled_retention = core::Seconds(3600);
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    write_ten_minutes(*ledger, id);
    ASSERT_TRUE(ledger->compact(12 * kMinute));
    EXPECT_EQ(ledger->reader().samples("x", 0, kDay).value().front().t_ms, 7 * kMinute);
    EXPECT_EQ(ledger->reader().minutes("x", 0, kDay).value().size(), 10U);
    ASSERT_TRUE(ledger->compact(kMinute * 65));
    // Aggregates older than an hour are gone: minutes 0..4 started before 5:00.
    EXPECT_EQ(ledger->reader().minutes("x", 0, kDay).value().front().t_ms, 5 * kMinute);
}

TEST(LedgerCompaction, RawRetentionRemovesWholeMinutesOnly) {
    TempFolder folder;
    auto options = test_options(folder.file("l.db"));
    options.raw_retention = core::Seconds(100);
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    write_ten_minutes(*ledger, id);
    // At 10:30, raw before 8:50 is past retention; minute 8 still holds 8:50 .. 8:59, so it stays whole.
    ASSERT_TRUE(ledger->compact(10 * kMinute + 30 * kSecond));
    const auto raw = ledger->reader().samples("x", 0, kDay).value();
    ASSERT_EQ(raw.size(), 120U);
    EXPECT_EQ(raw.front().t_ms, 8 * kMinute);
    // Every deleted minute was downsampled first.
    const auto minutes = ledger->reader().minutes("x", 0, kDay).value();
    ASSERT_EQ(minutes.size(), 9U);
    EXPECT_EQ(minutes.back(), (MinuteAggregate{8 * kMinute, 0.0, 29.5, 59.0, 60}));
}

TEST(LedgerCompaction, LateSampleAfterItsBlockWasDeletedDoesNotBringItBack) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    const auto id = ledger->series({"x", "W", "measured"});
    std::vector<Sample> samples;
    for (std::int64_t s = 0; s < 30; ++s) samples.push_back({id, s * kSecond, 1.0});
    ASSERT_TRUE(ledger->append(samples));
    ASSERT_TRUE(ledger->flush());
    ASSERT_TRUE(ledger->compact(2 * kDay));  // the series' only (newest) block is past retention
    ASSERT_TRUE(ledger->reader().samples("x", 0, kDay).value().empty());
    // A late sample in that minute is stored raw on its own (the writer must not reuse the deleted block).
    ASSERT_TRUE(ledger->append(Sample{id, 45 * kSecond, 7.0}));
    ASSERT_TRUE(ledger->flush());
    EXPECT_EQ(ledger->reader().samples("x", 0, kDay).value(),
              (std::vector<SamplePoint>{{45 * kSecond, 7.0}}));
    // Its minute was downsampled before it came: the aggregate keeps the 30 samples it had.
    const auto minutes = ledger->reader().minutes("x", 0, kDay).value();
    ASSERT_EQ(minutes.size(), 1U);
    EXPECT_EQ(minutes.front().count, 30);
}

TEST(LedgerCompaction, RunsPeriodicallyInTheWriterThread) {
    TempFolder folder;
    const core::ManualClock clock(core::Seconds(2 * 86'400.0));  // read-only here: safe across threads
    auto options = test_options(folder.file("l.db"));
    options.clock = &clock;
    options.compaction_interval = core::Seconds(0.01);
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    write_ten_minutes(*ledger, id);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ledger->reader().minutes("x", 0, kDay).value().size() < 10 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(ledger->reader().minutes("x", 0, kDay).value().size(), 10U);
    EXPECT_GE(ledger->stats().compactions, 1U);
}

}  // namespace
}  // namespace joulepilot::ledger
