#pragma once
// Node CPU time and utilisation from /proc/stat (the aggregate "cpu" line, in USER_HZ clock ticks).
//
// Signals:
//   node.cpu_busy_seconds_total   s      measured  CPU-seconds spent busy (all CPUs) since boot
//   node.cpu_utilization_ratio    ratio  derived   busy / (busy + idle) over the interval since the last read
// Busy is user + nice + system + irq + softirq (guest time is already inside user and nice). Idle is
// idle + iowait. Steal (time the hypervisor gave our vCPU to someone else) is in neither: it is not our
// CPU's work, and counting it as idle would bias attribution and the estimated-power model.
//
// Not thread-safe: owned by the loop thread. Holds a reference to `fs`, which must outlive it.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/rooted_fs.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

// The aggregate line of /proc/stat, in clock ticks.
struct CpuTimes {
    std::uint64_t user = 0;
    std::uint64_t nice = 0;
    std::uint64_t system = 0;
    std::uint64_t idle = 0;
    std::uint64_t iowait = 0;
    std::uint64_t irq = 0;
    std::uint64_t softirq = 0;
    std::uint64_t steal = 0;

    [[nodiscard]] std::uint64_t busy() const { return user + nice + system + irq + softirq; }
    [[nodiscard]] std::uint64_t idle_all() const { return idle + iowait; }
};

// Parses the first "cpu " line of /proc/stat text; nullopt when absent or malformed. Fields missing on
// old kernels (iowait, irq, softirq, steal) read as 0.
std::optional<CpuTimes> parse_proc_stat(std::string_view text);

// Reads and parses <proc_dir>/stat. Errors name the file.
core::Result<CpuTimes> read_cpu_times(const core::RootedFs& fs, std::string_view proc_dir = "proc");

// Utilisation between two readings: busy delta / (busy + idle) delta; nullopt when no tick elapsed or
// a counter went backwards.
std::optional<double> cpu_utilization(const CpuTimes& before, const CpuTimes& after);

// Clock ticks per second of /proc times (USER_HZ, 100 on every mainstream kernel), from sysconf.
long clock_ticks_per_second();

struct NodeCpuOptions {
    std::string proc_dir = "proc";
    // USER_HZ; 0: ask sysconf(_SC_CLK_TCK).
    long clock_ticks_per_second = 0;
};

class NodeCpuSensor final : public Sensor {
public:
    explicit NodeCpuSensor(const core::RootedFs& fs, NodeCpuOptions options = {});

    [[nodiscard]] std::string name() const override { return "procfs.cpu"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    // Utilisation over the last read's interval (nullopt before two good reads).
    [[nodiscard]] std::optional<double> last_utilization() const { return m_last_utilization; }

private:
    const core::RootedFs& m_fs;
    NodeCpuOptions m_options;
    double m_seconds_per_tick = 0.01;
    std::optional<CpuTimes> m_previous;
    std::optional<double> m_last_utilization;
    std::vector<Unavailable> m_unavailable;
};

}  // namespace joulepilot::sense
