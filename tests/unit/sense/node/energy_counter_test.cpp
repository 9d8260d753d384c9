#include "sense/rapl/energy_counter.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::sense {
namespace {

TEST(EnergyCounter, FirstReadingIsTheBaseline) {
    EnergyCounter c(1000);
    EXPECT_FALSE(c.has_baseline());
    EXPECT_EQ(c.update(500), CounterStep::baseline);
    EXPECT_TRUE(c.has_baseline());
    EXPECT_EQ(c.total_uj(), 0U);
    EXPECT_EQ(c.update(700), CounterStep::advanced);
    EXPECT_EQ(c.total_uj(), 200U);
    EXPECT_EQ(c.last_delta_uj(), 200U);
    EXPECT_DOUBLE_EQ(c.total().value(), 200e-6);
}

TEST(EnergyCounter, WrapsThroughTheMaximumOnce) {
    EnergyCounter c(1000);  // values 0..1000, then 0
    c.update(990);
    EXPECT_EQ(c.update(5), CounterStep::wrapped);
    EXPECT_EQ(c.last_delta_uj(), 16U);  // 991..1000 is 10, then 0..5 is 6
    EXPECT_EQ(c.total_uj(), 16U);
    EXPECT_EQ(c.wraps(), 1U);
    EXPECT_EQ(c.resets(), 0U);
}

TEST(EnergyCounter, FullWidthRangeDoesNotOverflow) {
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    EnergyCounter c(kMax);
    c.update(kMax - 1);
    EXPECT_EQ(c.update(3), CounterStep::wrapped);
    EXPECT_EQ(c.last_delta_uj(), 5U);
}

TEST(EnergyCounter, BackwardWithoutAKnownRangeIsAResetThatAddsNothing) {
    EnergyCounter c;  // no range: hwmon, or a missing max_energy_range_uj
    c.update(1000);
    c.update(1500);
    EXPECT_EQ(c.update(200), CounterStep::reset);
    EXPECT_EQ(c.total_uj(), 500U);
    EXPECT_EQ(c.last_delta_uj(), 0U);
    EXPECT_EQ(c.resets(), 1U);
    EXPECT_EQ(c.update(260), CounterStep::advanced);  // re-baselined at 200
    EXPECT_EQ(c.total_uj(), 560U);
}

TEST(EnergyCounter, ReadingsBeyondTheRangeCannotWrap) {
    EnergyCounter c(1000);
    c.update(5000);  // the device exceeds its declared range: a backward step is not a wrap
    EXPECT_EQ(c.update(10), CounterStep::reset);
    EXPECT_EQ(c.wraps(), 0U);
}

TEST(EnergyCounter, ImplausibleStepsAreResetsForwardAndThroughAWrap) {
    EnergyCounter c(1'000'000);
    c.update(100);
    EXPECT_EQ(c.update(900'000, 1000), CounterStep::reset);  // a jump of 899,900 uJ where 1,000 is possible
    EXPECT_EQ(c.total_uj(), 0U);
    EXPECT_EQ(c.update(900'500, 1000), CounterStep::advanced);
    EXPECT_EQ(c.total_uj(), 500U);
    // 900,500 -> 900,400 would be a wrap of ~1 J: far more than plausible, so a reset.
    EXPECT_EQ(c.update(900'400, 1000), CounterStep::reset);
    EXPECT_EQ(c.total_uj(), 500U);
    EXPECT_EQ(c.resets(), 2U);
}

// The property the whole RAPL path rests on: whatever the range, the start and the steps (each at most
// one full range, i.e. at most one wrap per interval), the total is the true energy to the microjoule.
TEST(EnergyCounter, TotalIsExactAcrossAnySequenceOfWraps) {
    const bool ok = rc::check("sum of true deltas == folded total", [] {
        const auto max = *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(1, 5000),
                                         rc::gen::inRange<std::uint64_t>(1, std::uint64_t{1} << 40),
                                         rc::gen::just(std::numeric_limits<std::uint64_t>::max()));
        // inRange's upper end is exclusive: `end` admits every value up to max (max itself but for the
        // full-width range, where max + 1 does not exist).
        const std::uint64_t end = max == std::numeric_limits<std::uint64_t>::max() ? max : max + 1;
        const auto start = *rc::gen::inRange<std::uint64_t>(0, end);
        const auto deltas = *rc::gen::container<std::vector<std::uint64_t>>(
            rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, std::min<std::uint64_t>(100, end)),
                           rc::gen::inRange<std::uint64_t>(0, end)));
        EnergyCounter c(max);
        c.update(start);
        std::uint64_t raw = start;
        std::uint64_t truth = 0;
        std::uint64_t expected_wraps = 0;
        for (const std::uint64_t d : deltas) {
            // raw + d modulo (max + 1), without overflowing when max is the full width.
            const std::uint64_t room = max - raw;  // steps left before the wrap
            if (d > room) {
                raw = d - room - 1;
                ++expected_wraps;
            } else {
                raw += d;
            }
            truth += d;
            const CounterStep step = c.update(raw);
            RC_ASSERT(step != CounterStep::reset);
        }
        RC_ASSERT(c.total_uj() == truth);
        RC_ASSERT(c.wraps() == expected_wraps);
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::sense
