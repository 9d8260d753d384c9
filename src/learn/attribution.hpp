#pragma once
// Energy attribution: who used the joules of one measured interval of one domain (a CPU package, DRAM,
// a GPU, the node). The interval's measured energy is split into
//   idle      = idle power x duration, capped at the measured energy (the machine's cost of being on),
//   consumers = the rest, in proportion to each consumer's weight (CPU seconds of a process or cgroup
//               in the interval; for GPUs, NVML per-process utilisation shares; any non-negative share),
// and the split conserves energy EXACTLY: the arithmetic is done in integer microjoules (finer than any
// counter we read: RAPL ~15-61 uJ, NVML 1 mJ) with cumulative rounding, so
//   idle_uj + sum(consumer_uj) == measured_uj            for every interval, bit for bit,
// and each consumer is within 1 uJ of its exact proportional share.
//
// Consumers that ran but were not seen (processes that exited in the interval, time outside every
// listed cgroup) should be passed as one "other" consumer with the remaining weight (e.g. node busy CPU
// seconds minus the sum of the listed ones), or their energy is shared among the listed ones. When no
// consumer has any weight (nothing ran), the whole interval is idle.
//
// Idle power comes from configuration or from IdlePowerTracker (a low percentile of observed power).
// Pure functions and a small value type; IdlePowerTracker is not thread-safe (owned by its caller).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"

namespace joulepilot::learn {

struct DomainInterval {
    core::Joules measured{0};   // energy measured in the interval (e.g. a counter delta); >= 0
    core::Seconds duration{0};  // >= 0
    core::Watts idle_power{0};  // >= 0
};

struct Attribution {
    std::int64_t measured_uj = 0;
    std::int64_t idle_uj = 0;
    std::vector<std::int64_t> consumer_uj;  // parallel to the weights given

    [[nodiscard]] core::Joules measured() const { return to_joules(measured_uj); }
    [[nodiscard]] core::Joules idle() const { return to_joules(idle_uj); }
    [[nodiscard]] core::Joules consumer(std::size_t i) const { return to_joules(consumer_uj[i]); }
    // Sum of the consumers' energy, exact (integer microjoules).
    [[nodiscard]] std::int64_t attributed_uj() const;

    static core::Joules to_joules(std::int64_t uj) { return core::Joules(static_cast<double>(uj) * 1e-6); }
};

// Splits one interval. Fails (naming the culprit) on a negative or non-finite energy, duration, idle
// power or weight, or on energy beyond 9 x 10^12 J.
core::Result<Attribution> attribute_energy(const DomainInterval& interval, std::span<const double> weights);

// Idle power learned as a low percentile of the power samples seen (a node is rarely fully idle for
// long, but its quietest moments are close). Keeps the last `window` samples.
class IdlePowerTracker {
public:
    // percentile in [0, 1] (0.05: the 5th percentile); min_samples before idle() answers.
    explicit IdlePowerTracker(std::size_t window = 3600, double percentile = 0.05,
                              std::size_t min_samples = 10);

    // Non-finite or negative samples are ignored (a missing sample is not 0 W).
    void add(core::Watts power);
    [[nodiscard]] std::optional<core::Watts> idle() const;
    [[nodiscard]] std::size_t size() const { return m_samples.size(); }

private:
    std::size_t m_window;
    double m_percentile;
    std::size_t m_min_samples;
    std::vector<double> m_samples;  // ring buffer once full
    std::size_t m_next = 0;
    mutable std::vector<double> m_scratch;
};

}  // namespace joulepilot::learn
