// The sample block codec: its byte layout (little-endian offsets, then values), round trips of any
// points in a minute (RapidCheck), damaged blobs refused with a message, and the merge rule (a later
// sample of the same instant wins).

#include "ledger/sample_block.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace joulepilot::ledger::detail {
namespace {

TEST(SampleBlock, LayoutIsLittleEndianOffsetsThenValues) {
    const std::int64_t minute = 120'000;
    const std::vector<SamplePoint> points{{120'000, 1.0}, {120'000 + 0x1234, -2.5}};
    std::vector<std::uint8_t> blob;
    encode_block(minute, points, blob);
    const std::vector<std::uint8_t> want{
        0x00, 0x00, 0x34, 0x12,                          // offsets 0 and 0x1234 ms
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,  // 1.0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc0,  // -2.5
    };
    EXPECT_EQ(blob, want);
    std::vector<SamplePoint> back;
    ASSERT_TRUE(decode_block(minute, 2, blob, INT64_MIN, INT64_MAX, back, "test"));
    EXPECT_EQ(back, points);
}

TEST(SampleBlock, FloorMinuteAlsoBefore1970) {
    EXPECT_EQ(floor_minute(0), 0);
    EXPECT_EQ(floor_minute(59'999), 0);
    EXPECT_EQ(floor_minute(60'000), 60'000);
    EXPECT_EQ(floor_minute(-1), -60'000);
    EXPECT_EQ(floor_minute(-60'000), -60'000);
    EXPECT_GT(floor_minute(kEarliestSampleMs) + kMinuteMs, kEarliestSampleMs);
}

RC_GTEST_PROP(SampleBlock, AnyPointsOfAMinuteRoundTripAndFilter, ()) {
    const std::int64_t minute =
        floor_minute(*rc::gen::inRange<std::int64_t>(-4'000'000'000'000, 4'000'000'000'000));
    const auto offsets =
        *rc::gen::container<std::set<std::int64_t>>(rc::gen::inRange<std::int64_t>(0, kMinuteMs));
    std::vector<SamplePoint> points;
    for (const auto offset : offsets) points.push_back({minute + offset, *rc::gen::arbitrary<double>()});
    std::vector<std::uint8_t> blob;
    encode_block(minute, points, blob);
    RC_ASSERT(blob.size() == points.size() * kBytesPerPoint);
    const auto from = minute + *rc::gen::inRange<std::int64_t>(-1, kMinuteMs + 1);
    const auto to = from + *rc::gen::inRange<std::int64_t>(0, kMinuteMs + 1);
    std::vector<SamplePoint> back;
    RC_ASSERT(decode_block(minute, static_cast<std::int64_t>(points.size()), blob, from, to, back, "test")
                  .has_value());
    std::vector<SamplePoint> want;
    for (const auto& p : points) {
        if (p.t_ms >= from && p.t_ms < to) want.push_back(p);
    }
    RC_ASSERT(back.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        RC_ASSERT(back[i].t_ms == want[i].t_ms);
        // Bit for bit (NaN payloads and negative zero included).
        RC_ASSERT(std::memcmp(&back[i].value, &want[i].value, sizeof(double)) == 0);
    }
}

RC_GTEST_PROP(SampleBlock, MergeKeepsTheLatestValueOfEachInstant, ()) {
    const auto value = rc::gen::map(rc::gen::inRange(0, 1000), [](int v) { return static_cast<double>(v); });
    const auto stored_map =
        *rc::gen::container<std::map<std::int64_t, double>>(rc::gen::inRange<std::int64_t>(0, 100), value);
    auto incoming = *rc::gen::container<std::vector<Sample>>(rc::gen::construct<Sample>(
        rc::gen::just<SeriesId>(1), rc::gen::inRange<std::int64_t>(0, 100), value));
    // Sorted by time, equal times in arrival order (as the writer's stable sort leaves them).
    std::stable_sort(incoming.begin(), incoming.end(),
                     [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    std::vector<SamplePoint> stored;
    for (const auto& [t, v] : stored_map) stored.push_back({t, v});
    auto want = stored_map;
    for (const auto& sample : incoming) want[sample.t_ms] = sample.value;
    std::vector<SamplePoint> merged;
    merge_points(stored, incoming, merged);
    RC_ASSERT(merged.size() == want.size());
    auto expected = want.begin();
    for (const auto& point : merged) {
        RC_ASSERT(point.t_ms == expected->first);
        RC_ASSERT(point.value == expected->second);
        ++expected;
    }
}

TEST(SampleBlock, DamagedBlobsAreRefusedWithWhereAndWhat) {
    std::vector<std::uint8_t> blob;
    encode_block(0, std::vector<SamplePoint>{{1, 1.0}, {2, 2.0}}, blob);
    std::vector<SamplePoint> out;
    auto wrong_count = decode_block(0, 3, blob, INT64_MIN, INT64_MAX, out, "ledger f.db: series x");
    ASSERT_FALSE(wrong_count);
    EXPECT_NE(wrong_count.error().message.find("ledger f.db: series x"), std::string::npos);
    EXPECT_NE(wrong_count.error().message.find("20 bytes for 3 points"), std::string::npos)
        << wrong_count.error().message;
    auto swapped = blob;
    std::swap(swapped[0], swapped[2]);  // offsets 2, 1: out of order
    EXPECT_FALSE(decode_block(0, 2, swapped, INT64_MIN, INT64_MAX, out, "x"));
    auto too_far = blob;
    too_far[2] = 0x60;  // offset 0xea60 = 60,000 ms: past the minute
    too_far[3] = 0xea;
    EXPECT_FALSE(decode_block(0, 2, too_far, INT64_MIN, INT64_MAX, out, "x"));
}

}  // namespace
}  // namespace joulepilot::ledger::detail
