#pragma once
// HwmonSensor: power, energy and temperature channels of Linux hwmon chips (/sys/class/hwmon/hwmonN),
// matched by the chip's `name` file, never by the hwmonN index (which changes from boot to boot).
//
// Signals, per chip <chip> (its name; "<name>_<k>" when several chips share a name, numbered in the order
// of their `device` link targets, which are stable) and channel <n>:
//   hwmon.<chip>.power<n>_watts            W   measured  power<n>_input (uW)
//   hwmon.<chip>.power<n>_average_watts    W   measured  power<n>_average (uW), the chip's own average
//   hwmon.<chip>.energy<n>_joules_total    J   measured  energy<n>_input (uJ), total since discover()
//   hwmon.<chip>.energy<n>_power_watts     W   derived   mean power since the previous read
//   hwmon.<chip>.temp<n>_celsius           C   measured  temp<n>_input (millidegrees C)
// hwmon documents no wrap range for energy counters: a backward step is a counter reset (sample missing,
// counted), see EnergyCounter. Channels unreadable at discovery get no signal and an Unavailable entry.
// A channel that fails on a later read is missing for that tick and counted in read_errors().
//
// Not thread-safe: owned by the loop thread. Holds references to `fs` and `clock`, which must outlive it.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/rapl/energy_counter.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct HwmonOptions {
    std::string hwmon_dir = "sys/class/hwmon";
    // Chip names to read (e.g. {"acpi_power_meter", "amdgpu"}); empty: every chip.
    std::vector<std::string> names;
    // Bound for energy channels; a larger step between reads is a counter reset.
    core::Watts max_plausible_power{5000.0};
};

class HwmonSensor final : public Sensor {
public:
    HwmonSensor(const core::RootedFs& fs, const core::Clock& clock, HwmonOptions options = {});

    [[nodiscard]] std::string name() const override { return "hwmon"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    [[nodiscard]] std::uint64_t read_errors() const { return m_read_errors; }
    [[nodiscard]] std::uint64_t resets() const { return m_resets; }

private:
    enum class Kind : std::uint8_t { power, energy, temperature };
    struct Channel {
        Kind kind;
        std::string path;            // relative path of the *_input / *_average file
        EnergyCounter counter;       // energy channels only
        core::Seconds last_good{0};  // energy channels only
    };

    const core::RootedFs& m_fs;
    const core::Clock& m_clock;
    HwmonOptions m_options;
    std::vector<Channel> m_channels;  // in signal order; an energy channel has two signals
    std::vector<Unavailable> m_unavailable;
    std::uint64_t m_read_errors = 0;
    std::uint64_t m_resets = 0;
};

}  // namespace joulepilot::sense
