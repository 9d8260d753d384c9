#include "learn/forecast.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace joulepilot::learn {
namespace {

TEST(Holt, FollowsARampBetterThanPersistence) {
    std::vector<double> ramp;
    for (int i = 0; i < 200; ++i) ramp.push_back(10 + 0.5 * i);
    const ForecastScore score = score_one_step(ramp, HoltConfig{0.5, 0.3, 1.0});
    EXPECT_EQ(score.points, 199U);
    EXPECT_NEAR(score.naive_mae, 0.5, 1e-9);
    EXPECT_LT(score.holt_mae, 0.1);
}

TEST(Holt, ConstantSeriesIsForecastExactly) {
    HoltForecaster holt;
    for (int i = 0; i < 20; ++i) holt.update(3.0);
    EXPECT_NEAR(holt.forecast(1), 3.0, 1e-12);
    EXPECT_NEAR(holt.max_forecast(6), 3.0, 1e-12);
}

TEST(Holt, RejectsBadValuesAndNeverForecastsNegative) {
    HoltForecaster holt;
    EXPECT_FALSE(holt.ready());
    EXPECT_EQ(holt.forecast(1), 0.0);
    EXPECT_FALSE(holt.update(std::nan("")));
    EXPECT_FALSE(holt.update(-1));
    EXPECT_FALSE(holt.update(std::numeric_limits<double>::infinity()));
    EXPECT_EQ(holt.rejected(), 3U);
    EXPECT_FALSE(holt.ready());
    for (double v : {100.0, 50.0, 10.0, 0.0, 0.0}) holt.update(v);
    EXPECT_GE(holt.forecast(10), 0.0);
}

RC_GTEST_PROP(Holt, ForecastIsFiniteAndNonNegative, (std::vector<double> values)) {
    HoltForecaster holt;
    for (double v : values) holt.update(v);
    const double f = holt.max_forecast(6);
    RC_ASSERT(std::isfinite(f));
    RC_ASSERT(f >= 0);
}

}  // namespace
}  // namespace joulepilot::learn
