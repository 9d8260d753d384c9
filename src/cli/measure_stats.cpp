#include "cli/measure_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace joulepilot::cli {
namespace {

// Continued fraction of the regularised incomplete beta function I_x(a, b), evaluated with the modified
// Lentz method; converges fast for x < (a + 1) / (a + b + 2), which the caller arranges by symmetry.
double incomplete_beta_fraction(double a, double b, double x) {
    constexpr int kMaxTerms = 500;
    constexpr double kEpsilon = 1e-15;
    constexpr double kTiny = 1e-300;  // keeps a denominator off zero
    auto guard = [](double v) { return std::abs(v) < kTiny ? kTiny : v; };

    double c = 1.0;
    double d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    double result = d;
    for (int m = 1; m <= kMaxTerms; ++m) {
        const double md = m;
        // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
        const double even = md * (b - md) * x / ((a + 2.0 * md - 1.0) * (a + 2.0 * md));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        result *= d * c;
        // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        const double odd = -(a + md) * (a + b + md) * x / ((a + 2.0 * md) * (a + 2.0 * md + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        const double step = d * c;
        result *= step;
        if (std::abs(step - 1.0) < kEpsilon) break;
    }
    return result;
}

// I_x(a, b), the regularised incomplete beta function, for x in [0, 1].
double regularized_incomplete_beta(double a, double b, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    // x^a (1 - x)^b / (a B(a, b)), in logs so large a or b do not overflow.
    const double log_front =
        std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    const double front = std::exp(log_front);
    if (x < (a + 1.0) / (a + b + 2.0)) return front * incomplete_beta_fraction(a, b, x) / a;
    return 1.0 - front * incomplete_beta_fraction(b, a, 1.0 - x) / b;
}

}  // namespace

double student_t_cdf(double t, double dof) {
    if (std::isnan(t) || !(dof > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
    // P(|T| > |t|) = I_{dof / (dof + t^2)}(dof / 2, 1 / 2).
    const double tail = 0.5 * regularized_incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
    return t >= 0.0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double dof) {
    if (!(p > 0.0 && p < 1.0) || !(dof > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    if (p == 0.5) return 0.0;
    if (p < 0.5) return -student_t_quantile(1.0 - p, dof);
    // Bracket, then bisect: the CDF is monotonic, and ~100 halvings reach double precision, which is
    // cheap next to running a command several times.
    double low = 0.0;
    double high = 1.0;
    while (student_t_cdf(high, dof) < p && high < 1e12) high *= 2.0;
    for (int i = 0; i < 200 && high - low > 1e-12 * std::max(1.0, high); ++i) {
        const double mid = 0.5 * (low + high);
        (student_t_cdf(mid, dof) < p ? low : high) = mid;
    }
    return 0.5 * (low + high);
}

RepeatSummary summarize_repeats(std::span<const double> values, double level) {
    RepeatSummary s;
    s.level = level;
    s.n = values.size();
    if (s.n == 0) return s;
    double sum = 0.0;
    s.min = values.front();
    s.max = values.front();
    for (double v : values) {
        sum += v;
        s.min = std::min(s.min, v);
        s.max = std::max(s.max, v);
    }
    s.mean = sum / static_cast<double>(s.n);
    if (s.n < 2) return s;
    // Two passes: the squared deviations from the mean, not sum(x^2) - n mean^2, which cancels badly when
    // the spread is small next to the values (joules of repeats differ by a fraction of a percent).
    double squares = 0.0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    const auto n = static_cast<double>(s.n);
    s.stddev = std::sqrt(squares / (n - 1.0));
    const double t = student_t_quantile(1.0 - (1.0 - level) / 2.0, n - 1.0);
    const double half_width = t * *s.stddev / std::sqrt(n);
    s.ci_low = s.mean - half_width;
    s.ci_high = s.mean + half_width;
    return s;
}

}  // namespace joulepilot::cli
