#pragma once
// Next-interval load forecasts (requests/s, tokens/s) for the mpc policy: Holt's exponential smoothing
// with a damped trend, over one value per decision interval (the mean of that interval's samples). The
// damped trend keeps a forecast several intervals ahead from running away on a short burst. A bad
// input (NaN, infinite, negative) is dropped and counted; forecasts are never negative.
// score_one_step() measures a forecaster against the naive (persistence) forecast on a series; the
// bench reports it per scenario. Owned by one policy on the loop thread.

#include <cstddef>
#include <span>

namespace joulepilot::learn {

struct HoltConfig {
    double alpha = 0.5;  // level smoothing
    double beta = 0.1;   // trend smoothing
    double phi = 0.8;    // trend damping per step (1 = plain Holt)
};

class HoltForecaster {
public:
    explicit HoltForecaster(HoltConfig config = {}) : m_config(config) {}

    // Adds the next interval's observed value. Returns false (and ignores it) when it is not a finite
    // number >= 0.
    bool update(double value);
    [[nodiscard]] bool ready() const { return m_count > 0; }
    // Forecast `steps` intervals ahead (steps >= 1); 0 before the first update.
    [[nodiscard]] double forecast(int steps) const;
    // Largest forecast over 1..steps intervals ahead.
    [[nodiscard]] double max_forecast(int steps) const;
    [[nodiscard]] double last() const { return m_last; }
    [[nodiscard]] std::size_t rejected() const { return m_rejected; }

private:
    HoltConfig m_config;
    double m_level = 0;
    double m_trend = 0;
    double m_last = 0;
    std::size_t m_count = 0;
    std::size_t m_rejected = 0;
};

// One-step-ahead error of Holt and of persistence (next = this) over a series.
struct ForecastScore {
    std::size_t points = 0;
    double mean = 0;        // mean of the series (the scale of the errors)
    double holt_mae = 0;    // mean absolute error
    double naive_mae = 0;
    double holt_wape = 0;   // MAE / mean (weighted absolute percentage error)
    double naive_wape = 0;
};
ForecastScore score_one_step(std::span<const double> series, HoltConfig config = {});

}  // namespace joulepilot::learn
