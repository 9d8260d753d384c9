#include "sense/procfs/node_cpu_sensor.hpp"

#include <unistd.h>

#include <array>
#include <charconv>

#include <fmt/format.h>

namespace joulepilot::sense {

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
    // The aggregate line is the first one on every kernel, but look for it rather than assume.
    std::size_t at = 0;
    while (at < text.size() && text.substr(at, 4) != "cpu ") {
        const auto next = text.find('\n', at);
        if (next == std::string_view::npos) return std::nullopt;
        at = next + 1;
    }
    if (at >= text.size()) return std::nullopt;
    std::string_view line = text.substr(at + 4);
    line = line.substr(0, line.find('\n'));

    std::array<std::uint64_t, 8> fields{};
    std::size_t count = 0;
    const char* p = line.data();
    const char* const end = line.data() + line.size();
    while (count < fields.size()) {
        while (p < end && *p == ' ') ++p;
        if (p == end) break;
        const auto [next, ec] = std::from_chars(p, end, fields[count]);
        if (ec != std::errc() || (next != end && *next != ' ')) return std::nullopt;
        p = next;
        ++count;
    }
    if (count < 4) return std::nullopt;  // user nice system idle exist on every kernel
    return CpuTimes{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]};
}

core::Result<CpuTimes> read_cpu_times(const core::RootedFs& fs, std::string_view proc_dir) {
    // The aggregate line comes first; 4 KiB holds it even with 10 fields of 20 digits.
    std::array<char, 4096> buffer{};
    const std::string path = std::string(proc_dir) + "/stat";
    auto n = fs.read_into(path, buffer);
    if (!n) return core::fail(n.error().message);
    auto times = parse_proc_stat(std::string_view(buffer.data(), *n));
    if (!times) return core::fail(fmt::format("{}: no valid aggregate \"cpu\" line", fs.full_path(path)));
    return *times;
}

std::optional<double> cpu_utilization(const CpuTimes& before, const CpuTimes& after) {
    if (after.busy() < before.busy() || after.idle_all() < before.idle_all()) return std::nullopt;
    const auto busy = static_cast<double>(after.busy() - before.busy());
    const auto idle = static_cast<double>(after.idle_all() - before.idle_all());
    if (busy + idle <= 0) return std::nullopt;
    return busy / (busy + idle);
}

long clock_ticks_per_second() {
    const long ticks = ::sysconf(_SC_CLK_TCK);
    return ticks > 0 ? ticks : 100;
}

NodeCpuSensor::NodeCpuSensor(const core::RootedFs& fs, NodeCpuOptions options)
    : m_fs(fs), m_options(std::move(options)) {
    const long ticks =
        m_options.clock_ticks_per_second > 0 ? m_options.clock_ticks_per_second : clock_ticks_per_second();
    m_seconds_per_tick = 1.0 / static_cast<double>(ticks);
}

std::vector<SignalInfo> NodeCpuSensor::discover() {
    m_unavailable.clear();
    m_previous.reset();
    m_last_utilization.reset();
    auto times = read_cpu_times(m_fs, m_options.proc_dir);
    if (!times) {
        m_unavailable.push_back({"node CPU time (" + m_fs.full_path(m_options.proc_dir + "/stat") + ")",
                                 times.error().message, "mount procfs at /proc"});
        return {};
    }
    m_previous = *times;
    return {
        {"node.cpu_busy_seconds_total", "s", Provenance::measured,
         "CPU-seconds busy on all CPUs since boot (user, nice, system, irq, softirq)"},
        {"node.cpu_utilization_ratio", "ratio", Provenance::derived,
         "busy / (busy + idle + iowait) over the interval since the previous read; steal excluded"},
    };
}

core::Result<void> NodeCpuSensor::read(std::span<Sample> samples) {
    for (Sample& s : samples) s = Sample{};
    auto times = read_cpu_times(m_fs, m_options.proc_dir);
    if (!times) return core::fail("procfs: " + times.error().message);
    if (!samples.empty()) samples[0] = Sample{static_cast<double>(times->busy()) * m_seconds_per_tick, true};
    m_last_utilization = m_previous ? cpu_utilization(*m_previous, *times) : std::nullopt;
    if (samples.size() > 1 && m_last_utilization) samples[1] = Sample{*m_last_utilization, true};
    m_previous = *times;
    return {};
}

}  // namespace joulepilot::sense
