#include "core/units.hpp"

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

TEST(Units, PowerTimesTimeIsEnergy) {
    const Joules e = Watts(700) * Seconds(3600);
    EXPECT_DOUBLE_EQ(e.value(), 2.52e6);
    EXPECT_DOUBLE_EQ(to_kwh(e), 0.7);
    EXPECT_DOUBLE_EQ((e / Seconds(3600)).value(), 700);
    EXPECT_DOUBLE_EQ((e / Watts(350)).value(), 7200);
}

TEST(Units, LikeQuantitiesAddCompareAndDivideToPlainNumbers) {
    Watts p(100);
    p += Watts(50);
    EXPECT_EQ(p, Watts(150));
    EXPECT_LT(Watts(1), Watts(2));
    EXPECT_DOUBLE_EQ(Joules(10) / Joules(4), 2.5);
    EXPECT_DOUBLE_EQ(to_mhz(from_mhz(1980)), 1980);
    EXPECT_DOUBLE_EQ(from_kwh(1).value(), kJoulesPerKwh);
}

}  // namespace
}  // namespace joulepilot::core
