#pragma once
// Split-conformal prediction intervals (Vovk et al.; Lei et al. 2018): the residuals of a model on a
// calibration set it was not trained on give a quantile q such that, for a new exchangeable point,
// P(y <= prediction + q) >= 1 - alpha. The energy model stores one q per target; the mpc policy decides
// on prediction + q (the upper bound of the latency interval). Pure functions.

#include <cstddef>
#include <span>
#include <vector>

namespace joulepilot::learn {

// The ceil((n + 1)(1 - alpha))-th smallest of the signed residuals (y - prediction): the one-sided
// upper quantile. +infinity when the calibration set is too small for that level (n < 1/alpha - 1).
double conformal_upper_quantile(std::span<const double> residuals, double alpha);

// Fraction of points with y <= prediction + q (the empirical coverage on a test set).
double conformal_coverage(std::span<const double> residuals, double q);

// Mondrian (binned) split conformal: the calibration points are grouped by their prediction into
// `bins` equal-count bins and each bin gets its own quantile, so a model whose errors grow with the
// predicted value (latency near overload) gets tight bounds where it is accurate. Coverage holds
// within each bin. A bin too small for the level uses the quantile of all points.
struct BinnedQuantiles {
    std::vector<double> edges;  // upper edges of all bins but the last, ascending
    std::vector<double> q;      // one per bin
    [[nodiscard]] double at(double prediction) const;
};
BinnedQuantiles binned_conformal(std::span<const double> predictions, std::span<const double> residuals,
                                 double alpha, std::size_t bins);

}  // namespace joulepilot::learn
