#pragma once
// A clock that paces another (the twin's simulated clock) to wall time: sleep_until(t) first lets the
// simulation reach t, then waits until the wall clock reaches start + t / speed. With speed 1 the twin
// runs in real time (a live demo of the agent); with speed 60 a simulated hour passes in a minute.
// Loop thread only.

#include <chrono>

#include "core/clock.hpp"

namespace joulepilot::daemon {

class PacedClock final : public core::Clock {
public:
    PacedClock(core::Clock& simulated, double speed);
    [[nodiscard]] core::Seconds now() const override { return m_simulated.now(); }
    void sleep_until(core::Seconds t) override;

private:
    core::Clock& m_simulated;
    double m_speed;
    std::chrono::steady_clock::time_point m_wall_start;
    core::Seconds m_sim_start;
};

}  // namespace joulepilot::daemon
