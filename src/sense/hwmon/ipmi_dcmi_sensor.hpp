#pragma once
// IpmiDcmiSensor: whole-node power from the BMC through DCMI, by running FreeIPMI's
// `ipmi-dcmi --get-system-power-statistics` and parsing its "Current Power : N Watts" line. A
// calibration source (it sees the wall side of the power supplies), not a per-tick meter: the command
// takes tens to hundreds of milliseconds and the BMC averages over its own window, so read this sensor
// on a slow cadence (e.g. every 10 s), never in the 1 Hz loop.
//
// Signals:
//   node.ipmi_power_watts           W  measured  "Current Power"
//   node.ipmi_average_power_watts   W  measured  "Average Power over sampling duration"
// Both are missing when the BMC says "Power Measurement : Not Available" (it then reports 0 W, which is
// not a reading).
//
// discover() runs the command once: not installed -> Unavailable "not present" (install freeipmi-tools);
// it fails (no BMC, not root) -> Unavailable with its message; then no signals.
//
// Not thread-safe: owned by the loop thread. Runs a child process per read (with a timeout; a child
// that overstays is killed).

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct DcmiPowerStatistics {
    std::optional<double> current_watts;
    std::optional<double> average_watts;
    bool measurement_active = true;  // false when "Power Measurement" is not "Active"
};

// Parses ipmi-dcmi's statistics text; nullopt when it holds no "Current Power" line.
std::optional<DcmiPowerStatistics> parse_dcmi_power_statistics(std::string_view text);

// The outcome of running a command to completion.
struct CommandOutput {
    int spawn_errno = 0;     // ENOENT when the program is not installed; 0 when it ran
    int exit_status = -1;    // exit code; -1 when killed by a signal or not run
    bool timed_out = false;  // killed after the timeout
    std::string out;         // stdout (capped at 64 KiB)
    std::string err;         // stderr (capped at 64 KiB)
};

// Runs argv[0] (searched in PATH) with its arguments, no shell, and waits at most `timeout`.
CommandOutput run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

struct IpmiDcmiOptions {
    std::vector<std::string> command = {"ipmi-dcmi", "--get-system-power-statistics"};
    std::chrono::milliseconds timeout{5000};
};

class IpmiDcmiSensor final : public Sensor {
public:
    explicit IpmiDcmiSensor(IpmiDcmiOptions options = {});

    [[nodiscard]] std::string name() const override { return "ipmi_dcmi"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

private:
    // The statistics from one run, or an error naming what went wrong (with the command's own message).
    [[nodiscard]] core::Result<DcmiPowerStatistics> interpret(const CommandOutput& run) const;
    [[nodiscard]] std::string command_name() const;

    IpmiDcmiOptions m_options;
    bool m_available = false;
    std::vector<Unavailable> m_unavailable;
};

}  // namespace joulepilot::sense
