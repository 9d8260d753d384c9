#include "daemon/paced_clock.hpp"

#include <algorithm>
#include <thread>

namespace joulepilot::daemon {

PacedClock::PacedClock(core::Clock& simulated, double speed)
    : m_simulated(simulated),
      m_speed(std::max(speed, 1e-6)),
      m_wall_start(std::chrono::steady_clock::now()),
      m_sim_start(simulated.now()) {}

void PacedClock::sleep_until(core::Seconds t) {
    m_simulated.sleep_until(t);
    const double wall_s = (t - m_sim_start).value() / m_speed;
    std::this_thread::sleep_until(m_wall_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                     std::chrono::duration<double>(wall_s)));
}

}  // namespace joulepilot::daemon
