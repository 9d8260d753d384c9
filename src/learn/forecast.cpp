#include "learn/forecast.hpp"

#include <algorithm>
#include <cmath>

namespace joulepilot::learn {

bool HoltForecaster::update(double value) {
    if (!std::isfinite(value) || value < 0) {
        ++m_rejected;
        return false;
    }
    if (m_count == 0) {
        m_level = value;
        m_trend = 0;
    } else {
        const double previous_level = m_level;
        const double phi = m_config.phi;
        m_level = m_config.alpha * value + (1 - m_config.alpha) * (previous_level + phi * m_trend);
        m_trend = m_config.beta * (m_level - previous_level) + (1 - m_config.beta) * phi * m_trend;
    }
    m_last = value;
    ++m_count;
    return true;
}

double HoltForecaster::forecast(int steps) const {
    if (m_count == 0) return 0;
    // Damped trend: level + (phi + phi^2 + ... + phi^h) * trend.
    double damp = 0;
    double power = 1;
    for (int h = 1; h <= std::max(1, steps); ++h) {
        power *= m_config.phi;
        damp += power;
    }
    return std::max(0.0, m_level + damp * m_trend);
}

double HoltForecaster::max_forecast(int steps) const {
    double best = 0;
    for (int h = 1; h <= std::max(1, steps); ++h) best = std::max(best, forecast(h));
    return best;
}

ForecastScore score_one_step(std::span<const double> series, HoltConfig config) {
    ForecastScore score;
    HoltForecaster holt(config);
    double sum = 0;
    for (std::size_t i = 0; i + 1 < series.size(); ++i) {
        holt.update(series[i]);
        const double actual = series[i + 1];
        score.holt_mae += std::abs(holt.forecast(1) - actual);
        score.naive_mae += std::abs(series[i] - actual);
        sum += actual;
        ++score.points;
    }
    if (score.points == 0) return score;
    const double n = static_cast<double>(score.points);
    score.holt_mae /= n;
    score.naive_mae /= n;
    score.mean = sum / n;
    score.holt_wape = score.mean > 0 ? score.holt_mae / score.mean : 0;
    score.naive_wape = score.mean > 0 ? score.naive_mae / score.mean : 0;
    return score;
}

}  // namespace joulepilot::learn
