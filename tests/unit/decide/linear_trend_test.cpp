#include "decide/linear_trend.hpp"

#include <gtest/gtest.h>

#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;

TEST(LinearTrend, RecoversALine) {
    FleetFixture fleet(1);
    for (int t = 0; t < 30; ++t) {
        fleet.set("fleet.arrival_rate_rps", 2.0 + 0.25 * t);
        fleet.push();
    }
    const auto trend = fit_linear_trend(fleet.state().window, "fleet.arrival_rate_rps", 20);
    ASSERT_TRUE(trend.has_value());
    EXPECT_NEAR(trend->slope_per_second, 0.25, 1e-12);
    EXPECT_NEAR(trend->value_now, 2.0 + 0.25 * 29, 1e-9);
    EXPECT_NEAR(trend->at(10), 2.0 + 0.25 * 39, 1e-9);
    EXPECT_EQ(trend->points, 20U);
}

TEST(LinearTrend, SkipsMissingSamples) {
    FleetFixture fleet(1);
    for (int t = 0; t < 10; ++t) {
        if (t % 3 == 0) {
            fleet.missing("fleet.arrival_rate_rps");
        } else {
            fleet.set("fleet.arrival_rate_rps", 10.0 - t);
        }
        fleet.push();
    }
    const auto trend = fit_linear_trend(fleet.state().window, "fleet.arrival_rate_rps", 10);
    ASSERT_TRUE(trend.has_value());
    EXPECT_EQ(trend->points, 6U);
    EXPECT_NEAR(trend->slope_per_second, -1.0, 1e-12);
    EXPECT_NEAR(trend->value_now, 1.0, 1e-9);  // the line at t = 9, itself a missing sample
}

TEST(LinearTrend, TooFewPointsOrUnknownSignal) {
    FleetFixture fleet(1);
    EXPECT_FALSE(fit_linear_trend(fleet.state().window, "fleet.arrival_rate_rps", 10).has_value());
    fleet.push(2);
    EXPECT_FALSE(fit_linear_trend(fleet.state().window, "fleet.arrival_rate_rps", 10).has_value());
    fleet.push();
    EXPECT_TRUE(fit_linear_trend(fleet.state().window, "fleet.arrival_rate_rps", 10).has_value());
    EXPECT_FALSE(fit_linear_trend(fleet.state().window, "fleet.nothing_rps", 10).has_value());
}

}  // namespace
}  // namespace joulepilot::decide
