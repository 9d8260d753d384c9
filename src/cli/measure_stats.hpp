#pragma once
// Statistics over the repeats of `joulepilot measure`: mean, sample standard deviation and a Student t
// confidence interval for the mean. Repeats are few (3 to 30), so the interval uses the t distribution
// with n - 1 degrees of freedom, not the normal one (which would be ~2.5x too narrow at n = 3).
// Pure functions; thread-safe.

#include <cstddef>
#include <optional>
#include <span>

namespace joulepilot::cli {

struct RepeatSummary {
    std::size_t n = 0;
    double mean = 0.0;  // meaningful when n >= 1
    // Sample standard deviation (divides by n - 1) and the confidence interval of the mean,
    // mean -/+ t(1 - (1 - level) / 2, n - 1) x stddev / sqrt(n); nullopt when n < 2.
    std::optional<double> stddev;
    std::optional<double> ci_low;
    std::optional<double> ci_high;
    double level = 0.95;  // confidence level of the interval
    double min = 0.0;
    double max = 0.0;
};

// Summarises `values` (NaN values are the caller's to leave out). level in (0, 1).
RepeatSummary summarize_repeats(std::span<const double> values, double level = 0.95);

// Cumulative distribution function of Student's t with `dof` (> 0, need not be an integer) degrees of
// freedom.
double student_t_cdf(double t, double dof);

// The t with student_t_cdf(t, dof) == p, for p in (0, 1): t(0.975, 2) = 4.303. Accurate to ~1e-10.
double student_t_quantile(double p, double dof);

}  // namespace joulepilot::cli
