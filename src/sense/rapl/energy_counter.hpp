#pragma once
// EnergyCounter folds the raw readings of a hardware energy counter (RAPL energy_uj, hwmon energy*_input)
// into a monotonic total since the first reading, with wraparound folded in, so that no interval is ever
// lost to a wrap (the classic RAPL reader bug) and the total stays exact to the counter's resolution: it
// is kept as an integer in microjoules and converted to joules only at the edge.
//
// Rules, in order, for a reading `now` after a reading `before` (both in uJ):
//   now >= before                          -> advanced by now - before
//   now < before, range known, both <= max -> wrapped: (max - before) + now + 1, i.e. (now - before) mod (max
//   + 1) otherwise (range unknown or exceeded)  -> reset: the counter restarted (driver reload, firmware)
// and a step larger than the caller's plausibility bound (max power x elapsed time), forward or through a
// wrap, is also a reset. A reset re-baselines at `now`, adds nothing (the energy of that interval is
// unknown, so it is reported missing, never guessed) and is counted. A delta is unambiguous only if the
// counter wraps at most once between readings: read it at least every (max range / max power) seconds
// (262 kJ / 500 W ~ 9 minutes for a typical package).
//
// Not thread-safe: owned by the sensor that reads the hardware (the loop thread).

#include <cstdint>
#include <optional>

#include "core/units.hpp"

namespace joulepilot::sense {

enum class CounterStep : std::uint8_t {
    baseline,  // first reading: the total starts at 0
    advanced,  // normal forward step (possibly by 0)
    wrapped,   // went through max_range_uj back to 0 once
    reset,     // implausible step: re-baselined, interval unknown
};

class EnergyCounter {
public:
    // max_range_uj: the largest raw value (powercap `max_energy_range_uj`); the next value after it is 0.
    // nullopt when unknown (the file is missing or garbage, or hwmon, which documents no range).
    explicit EnergyCounter(std::optional<std::uint64_t> max_range_uj = std::nullopt)
        : m_max_range_uj(max_range_uj) {}

    // Folds one raw reading in. max_plausible_delta_uj bounds the step (nullopt: no bound).
    CounterStep update(std::uint64_t raw_uj,
                       std::optional<std::uint64_t> max_plausible_delta_uj = std::nullopt);

    [[nodiscard]] bool has_baseline() const { return m_has_baseline; }
    // Energy since the first reading, wraps folded in, resets' unknown intervals left out.
    [[nodiscard]] std::uint64_t total_uj() const { return m_total_uj; }
    [[nodiscard]] core::Joules total() const { return core::Joules(static_cast<double>(m_total_uj) * 1e-6); }
    // The last step's energy (0 after a baseline or reset).
    [[nodiscard]] std::uint64_t last_delta_uj() const { return m_last_delta_uj; }
    [[nodiscard]] std::uint64_t last_raw_uj() const { return m_last_raw_uj; }
    [[nodiscard]] std::optional<std::uint64_t> max_range_uj() const { return m_max_range_uj; }
    [[nodiscard]] std::uint64_t wraps() const { return m_wraps; }
    [[nodiscard]] std::uint64_t resets() const { return m_resets; }

private:
    std::optional<std::uint64_t> m_max_range_uj;
    bool m_has_baseline = false;
    std::uint64_t m_last_raw_uj = 0;
    std::uint64_t m_total_uj = 0;
    std::uint64_t m_last_delta_uj = 0;
    std::uint64_t m_wraps = 0;
    std::uint64_t m_resets = 0;
};

}  // namespace joulepilot::sense
