#pragma once
// A Sensor discovers its signals once (what this machine or twin offers), then fills its slice of each
// tick's Observation. Owned and called by the loop thread only.

#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sense/observation.hpp"

namespace joulepilot::sense {

// Something a sensor looked for and could not offer, and what a person can do about it.
struct Unavailable {
    std::string what;    // "intel-rapl:0 energy_uj", "GPU 0 total energy counter"
    std::string reason;  // "not present", "permission denied", "not supported by this GPU"
    std::string fix;     // "run as root or: chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj"; may be empty
};

class Sensor {
public:
    virtual ~Sensor() = default;
    [[nodiscard]] virtual std::string name() const = 0;
    // Called once before the first read; the order of the returned signals is the order of `read`'s slice.
    virtual std::vector<SignalInfo> discover() = 0;
    // Fills `samples` (one per discovered signal). A signal that cannot be read is left missing; an error
    // return means the whole read failed (all missing), and the loop counts it against this sensor.
    virtual core::Result<void> read(std::span<Sample> samples) = 0;
    // What discover() found missing or unreadable (for `joulepilot sensors`); valid after discover().
    [[nodiscard]] virtual std::vector<Unavailable> unavailable() const { return {}; }
};

}  // namespace joulepilot::sense
