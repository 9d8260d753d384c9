#pragma once
// What a policy knows when it decides: the time, the recent observations and (as later issues add
// them) forecasts and learned models. A view: it does not own the window.

#include "core/units.hpp"
#include "learn/observation_window.hpp"

namespace joulepilot::learn {

struct ModelState {
    core::Seconds now{0};
    const ObservationWindow& window;
};

}  // namespace joulepilot::learn
