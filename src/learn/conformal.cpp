#include "learn/conformal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace joulepilot::learn {

double conformal_upper_quantile(std::span<const double> residuals, double alpha) {
    const auto n = static_cast<double>(residuals.size());
    const double rank = std::ceil((n + 1) * (1 - alpha));
    if (residuals.empty() || rank > n) return std::numeric_limits<double>::infinity();
    std::vector<double> sorted(residuals.begin(), residuals.end());
    const auto k = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
    return sorted[k];
}

double conformal_coverage(std::span<const double> residuals, double q) {
    if (residuals.empty()) return 1;
    const auto covered = std::count_if(residuals.begin(), residuals.end(), [q](double r) { return r <= q; });
    return static_cast<double>(covered) / static_cast<double>(residuals.size());
}

double BinnedQuantiles::at(double prediction) const {
    if (q.empty()) return std::numeric_limits<double>::infinity();
    const auto bin = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), prediction) - edges.begin());
    return q[std::min(bin, q.size() - 1)];
}

BinnedQuantiles binned_conformal(std::span<const double> predictions, std::span<const double> residuals,
                                 double alpha, std::size_t bins) {
    BinnedQuantiles out;
    const std::size_t n = std::min(predictions.size(), residuals.size());
    if (n == 0 || bins == 0) return out;
    const double all = conformal_upper_quantile(residuals.subspan(0, n), alpha);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return predictions[a] < predictions[b]; });
    bins = std::min(bins, n);
    for (std::size_t b = 0; b < bins; ++b) {
        const std::size_t from = b * n / bins;
        const std::size_t to = (b + 1) * n / bins;
        std::vector<double> r;
        for (std::size_t k = from; k < to; ++k) r.push_back(residuals[order[k]]);
        const double q = conformal_upper_quantile(r, alpha);
        out.q.push_back(std::isfinite(q) ? q : all);
        if (b + 1 < bins) out.edges.push_back(predictions[order[to - 1]]);
    }
    return out;
}

}  // namespace joulepilot::learn
