#include "core/clock.hpp"

#include <chrono>
#include <thread>

namespace joulepilot::core {

Seconds SystemClock::now() const {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return Seconds(std::chrono::duration<double>(since_epoch).count());
}

void SystemClock::sleep_until(Seconds t) {
    const Seconds wait = t - now();
    if (wait > Seconds(0)) {
        std::this_thread::sleep_for(std::chrono::duration<double>(wait.value()));
    }
}

}  // namespace joulepilot::core
