#pragma once
// A least-squares straight line through the recent values of one signal, for policies that act ahead of
// a trend (the idle-fsm wakes replicas before demand arrives). Lives in decide/ for now; it belongs
// with the forecasters in learn/ once those exist. Pure function of the window.

#include <cstddef>
#include <optional>
#include <string_view>

#include "learn/observation_window.hpp"

namespace joulepilot::decide {

struct LinearTrend {
    double slope_per_second = 0;  // signal units per second
    double value_now = 0;         // the line at the latest observation's time
    std::size_t points = 0;       // valid samples the line was fitted to

    // The line `ahead` seconds after the latest observation.
    [[nodiscard]] double at(double ahead_seconds) const {
        return value_now + slope_per_second * ahead_seconds;
    }
};

// Fits the valid, finite values of `signal` over the last `count` observations against their times.
// Needs at least `min_points` (>= 2) such values spread over a non-zero time span; nullopt otherwise.
std::optional<LinearTrend> fit_linear_trend(const learn::ObservationWindow& window, std::string_view signal,
                                            std::size_t count, std::size_t min_points = 3);

}  // namespace joulepilot::decide
