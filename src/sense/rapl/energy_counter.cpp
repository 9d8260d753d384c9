#include "sense/rapl/energy_counter.hpp"

namespace joulepilot::sense {

CounterStep EnergyCounter::update(std::uint64_t raw_uj, std::optional<std::uint64_t> max_plausible_delta_uj) {
    m_last_delta_uj = 0;
    if (!m_has_baseline) {
        m_has_baseline = true;
        m_last_raw_uj = raw_uj;
        return CounterStep::baseline;
    }
    const std::uint64_t before = m_last_raw_uj;
    m_last_raw_uj = raw_uj;

    std::uint64_t delta = 0;
    CounterStep step = CounterStep::advanced;
    if (raw_uj >= before) {
        delta = raw_uj - before;
    } else if (m_max_range_uj && before <= *m_max_range_uj && raw_uj <= *m_max_range_uj) {
        // raw < before <= max, so this is at most max: no overflow even when max is UINT64_MAX.
        delta = (*m_max_range_uj - before) + raw_uj + 1;
        step = CounterStep::wrapped;
    } else {
        ++m_resets;
        return CounterStep::reset;
    }
    if (max_plausible_delta_uj && delta > *max_plausible_delta_uj) {
        ++m_resets;
        return CounterStep::reset;
    }
    if (step == CounterStep::wrapped) ++m_wraps;
    m_last_delta_uj = delta;
    m_total_uj += delta;
    return step;
}

}  // namespace joulepilot::sense
