#include "core/clock.hpp"

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
    ManualClock clock(Seconds(10));
    EXPECT_EQ(clock.now(), Seconds(10));
    clock.sleep_until(Seconds(15));
    EXPECT_EQ(clock.now(), Seconds(15));
    clock.sleep_until(Seconds(12));  // never backwards
    EXPECT_EQ(clock.now(), Seconds(15));
    clock.advance(Seconds(1));
    EXPECT_EQ(clock.now(), Seconds(16));
}

TEST(SystemClock, ReportsUnixSecondsAndSleeps) {
    SystemClock clock;
    const Seconds start = clock.now();
    EXPECT_GT(start.value(), 1.6e9);  // after 2020
    clock.sleep_until(start + Seconds(0.01));
    EXPECT_GE(clock.now().value(), start.value() + 0.01);
}

}  // namespace
}  // namespace joulepilot::core
