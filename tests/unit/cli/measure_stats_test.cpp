#include "cli/measure_stats.hpp"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace joulepilot::cli {
namespace {

// Student t quantiles t(p, dof) from published tables (computed to 9+ digits, e.g. R's qt()).
struct TQuantile {
    double p;
    double dof;
    double t;
};

TEST(StudentT, QuantilesMatchTheTables) {
    const std::vector<TQuantile> table = {
        {0.975, 1, 12.706204736},  {0.975, 2, 4.302652730},  {0.975, 3, 3.182446305},
        {0.975, 4, 2.776445105},   {0.975, 5, 2.570581836},  {0.975, 9, 2.262157163},
        {0.975, 10, 2.228138852},  {0.975, 29, 2.045229642}, {0.975, 30, 2.042272456},
        {0.975, 100, 1.983971519}, {0.95, 1, 6.313751515},   {0.95, 10, 1.812461123},
        {0.995, 5, 4.032142984},   {0.9, 3, 1.637744354},    {0.975, 1e6, 1.959966},
    };
    for (const TQuantile& row : table) {
        EXPECT_NEAR(student_t_quantile(row.p, row.dof), row.t, 1e-6 * std::max(1.0, row.t))
            << "p=" << row.p << " dof=" << row.dof;
    }
}

TEST(StudentT, CdfKnownValuesAndSymmetry) {
    EXPECT_DOUBLE_EQ(student_t_cdf(0.0, 3), 0.5);
    // dof 1 is the Cauchy distribution: CDF = 1/2 + atan(t)/pi.
    for (double t : {-10.0, -1.0, 0.3, 2.0, 50.0}) {
        EXPECT_NEAR(student_t_cdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12) << t;
    }
    // dof 2 has a closed form too: 1/2 + t / (2 sqrt(2 + t^2)).
    for (double t : {-3.0, 0.5, 4.302652730}) {
        EXPECT_NEAR(student_t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-12) << t;
    }
    EXPECT_NEAR(student_t_cdf(-1.5, 7) + student_t_cdf(1.5, 7), 1.0, 1e-14);
    EXPECT_EQ(student_t_cdf(INFINITY, 4), 1.0);
    EXPECT_EQ(student_t_cdf(-INFINITY, 4), 0.0);
}

TEST(StudentT, InvalidArgumentsGiveNaN) {
    EXPECT_TRUE(std::isnan(student_t_quantile(0.0, 3)));
    EXPECT_TRUE(std::isnan(student_t_quantile(1.0, 3)));
    EXPECT_TRUE(std::isnan(student_t_quantile(0.5, 0)));
    EXPECT_TRUE(std::isnan(student_t_cdf(NAN, 3)));
    EXPECT_TRUE(std::isnan(student_t_cdf(1.0, -1)));
    EXPECT_EQ(student_t_quantile(0.5, 3), 0.0);
    EXPECT_NEAR(student_t_quantile(0.025, 2), -4.302652730, 1e-8);
}

RC_GTEST_PROP(StudentT, QuantileInvertsTheCdf, ()) {
    const double dof = *rc::gen::inRange(1, 200);
    const double p = *rc::gen::inRange(1, 999) / 1000.0;
    const double t = student_t_quantile(p, dof);
    RC_ASSERT(std::abs(student_t_cdf(t, dof) - p) < 1e-9);
}

TEST(RepeatSummary, MeanStandardDeviationAndInterval) {
    const std::vector<double> joules = {1.0, 2.0, 3.0};
    const RepeatSummary s = summarize_repeats(joules);
    EXPECT_EQ(s.n, 3U);
    EXPECT_DOUBLE_EQ(s.mean, 2.0);
    ASSERT_TRUE(s.stddev);
    EXPECT_DOUBLE_EQ(*s.stddev, 1.0);  // sample standard deviation: divides by n - 1
    ASSERT_TRUE(s.ci_low && s.ci_high);
    const double half = 4.302652730 / std::sqrt(3.0);
    EXPECT_NEAR(*s.ci_low, 2.0 - half, 1e-8);
    EXPECT_NEAR(*s.ci_high, 2.0 + half, 1e-8);
    EXPECT_EQ(s.min, 1.0);
    EXPECT_EQ(s.max, 3.0);
}

TEST(RepeatSummary, TextbookExample) {
    // Ten repeats; mean 10.06, s = 0.2366, t(0.975, 9) = 2.2622: 10.06 -/+ 0.1693.
    const std::vector<double> v = {10.2, 9.9, 10.1, 10.4, 9.8, 10.0, 10.3, 9.7, 10.2, 10.0};
    const RepeatSummary s = summarize_repeats(v);
    EXPECT_NEAR(s.mean, 10.06, 1e-12);
    double squares = 0;
    for (double x : v) squares += (x - 10.06) * (x - 10.06);
    EXPECT_NEAR(*s.stddev, std::sqrt(squares / 9), 1e-12);
    EXPECT_NEAR(*s.ci_high - s.mean, 2.262157163 * *s.stddev / std::sqrt(10.0), 1e-8);
    EXPECT_NEAR(s.mean - *s.ci_low, *s.ci_high - s.mean, 1e-12);
}

TEST(RepeatSummary, OtherConfidenceLevels) {
    const std::vector<double> v = {4.0, 6.0};
    const RepeatSummary s = summarize_repeats(v, 0.90);
    EXPECT_EQ(s.level, 0.90);
    // s = sqrt(2), t(0.95, 1) = 6.3138: half width 6.3138 x sqrt(2) / sqrt(2).
    EXPECT_NEAR(*s.ci_high - 5.0, 6.313751515, 1e-7);
}

TEST(RepeatSummary, OneOrNoValueHasNoSpread) {
    const std::vector<double> one = {7.5};
    const RepeatSummary s = summarize_repeats(one);
    EXPECT_EQ(s.n, 1U);
    EXPECT_EQ(s.mean, 7.5);
    EXPECT_FALSE(s.stddev);
    EXPECT_FALSE(s.ci_low);
    EXPECT_FALSE(s.ci_high);
    const RepeatSummary none = summarize_repeats({});
    EXPECT_EQ(none.n, 0U);
    EXPECT_FALSE(none.stddev);
}

TEST(RepeatSummary, EqualValuesHaveAZeroWidthInterval) {
    const std::vector<double> same = {5.0, 5.0, 5.0, 5.0};
    const RepeatSummary s = summarize_repeats(same);
    EXPECT_EQ(*s.stddev, 0.0);
    EXPECT_EQ(*s.ci_low, 5.0);
    EXPECT_EQ(*s.ci_high, 5.0);
}

TEST(RepeatSummary, SmallSpreadOnLargeValuesDoesNotCancel) {
    // Joules of long runs: a spread of a few millijoules on 10^9 J. sum(x^2) - n mean^2 would lose it.
    const std::vector<double> v = {1e9 + 0.001, 1e9 + 0.002, 1e9 + 0.003};
    const RepeatSummary s = summarize_repeats(v);
    EXPECT_NEAR(*s.stddev, 0.001, 1e-6);
}

RC_GTEST_PROP(RepeatSummary, IntervalContainsTheMeanAndScalesWithTheData, ()) {
    const auto raw = *rc::gen::container<std::vector<int>>(*rc::gen::inRange<std::size_t>(2, 30),
                                                           rc::gen::inRange(-100000, 100000));
    std::vector<double> values;
    for (int r : raw) values.push_back(r / 100.0);
    const RepeatSummary s = summarize_repeats(values);
    RC_ASSERT(s.ci_low && s.ci_high && s.stddev);
    RC_ASSERT(*s.ci_low <= s.mean + 1e-9 && s.mean <= *s.ci_high + 1e-9);
    RC_ASSERT(s.min <= s.mean + 1e-9 && s.mean <= s.max + 1e-9);
    // Scaling the data by k scales the mean, the deviation and the interval by k.
    std::vector<double> scaled;
    for (double v : values) scaled.push_back(3.0 * v);
    const RepeatSummary t = summarize_repeats(scaled);
    RC_ASSERT(std::abs(t.mean - 3.0 * s.mean) < 1e-6 * (1.0 + std::abs(s.mean)));
    RC_ASSERT(std::abs(*t.stddev - 3.0 * *s.stddev) < 1e-6 * (1.0 + *s.stddev));
    RC_ASSERT(std::abs((*t.ci_high - *t.ci_low) - 3.0 * (*s.ci_high - *s.ci_low)) < 1e-5 * (1.0 + *s.stddev));
}

}  // namespace
}  // namespace joulepilot::cli
