#include "decide/linear_trend.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace joulepilot::decide {

std::optional<LinearTrend> fit_linear_trend(const learn::ObservationWindow& window, std::string_view signal,
                                            std::size_t count, std::size_t min_points) {
    if (window.empty() || count == 0) return std::nullopt;
    const auto index = window.latest().catalog().find(signal);
    if (!index) return std::nullopt;
    // Times relative to the latest observation keep the sums small (no cancellation after a long run).
    const double t_latest = window.latest().time.value();
    const std::size_t first = window.size() > count ? window.size() - count : 0;
    double sum_t = 0;
    double sum_y = 0;
    std::size_t n = 0;
    std::vector<std::pair<double, double>> points;
    points.reserve(window.size() - first);
    for (std::size_t i = first; i < window.size(); ++i) {
        const auto v = window.at(i).get(*index);
        const double t = window.at(i).time.value() - t_latest;
        if (!v || !std::isfinite(*v) || !std::isfinite(t)) continue;
        points.emplace_back(t, *v);
        sum_t += t;
        sum_y += *v;
        ++n;
    }
    if (n < std::max<std::size_t>(min_points, 2)) return std::nullopt;
    const double mean_t = sum_t / static_cast<double>(n);
    const double mean_y = sum_y / static_cast<double>(n);
    double s_tt = 0;
    double s_ty = 0;
    for (const auto& [t, y] : points) {
        s_tt += (t - mean_t) * (t - mean_t);
        s_ty += (t - mean_t) * (y - mean_y);
    }
    if (!(s_tt > 0)) return std::nullopt;  // every point at the same time: no slope to speak of
    LinearTrend trend;
    trend.slope_per_second = s_ty / s_tt;
    trend.value_now = mean_y - trend.slope_per_second * mean_t;  // the line at t = 0, the latest time
    trend.points = n;
    return trend;
}

}  // namespace joulepilot::decide
