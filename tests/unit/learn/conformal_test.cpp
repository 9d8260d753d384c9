#include "learn/conformal.hpp"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace joulepilot::learn {
namespace {

TEST(Conformal, QuantileIsTheFiniteSampleRank) {
    // n = 19, alpha = 0.1: rank ceil(20 * 0.9) = 18 -> the 18th smallest.
    std::vector<double> r;
    for (int i = 1; i <= 19; ++i) r.push_back(i);
    EXPECT_EQ(conformal_upper_quantile(r, 0.1), 18);
    EXPECT_EQ(conformal_upper_quantile(r, 0.5), 10);
}

TEST(Conformal, TooFewPointsGiveAnInfiniteBound) {
    const std::vector<double> r{1, 2, 3};
    EXPECT_TRUE(std::isinf(conformal_upper_quantile(r, 0.05)));
    EXPECT_TRUE(std::isinf(conformal_upper_quantile({}, 0.05)));
}

TEST(Conformal, CoversNewPointsAtTheNominalLevel) {
    // Exchangeable residuals: the bound from 500 calibration points covers >= 95% of 20,000 new ones
    // (up to sampling noise of a few tenths of a percent).
    std::mt19937_64 rng(3);
    std::lognormal_distribution<double> d(0, 1);
    std::vector<double> calibration(500);
    for (double& x : calibration) x = d(rng);
    std::vector<double> test(20000);
    for (double& x : test) x = d(rng);
    const double q = conformal_upper_quantile(calibration, 0.05);
    EXPECT_GE(conformal_coverage(test, q), 0.94);
    EXPECT_LE(conformal_coverage(test, q), 0.975);
}

}  // namespace
}  // namespace joulepilot::learn
