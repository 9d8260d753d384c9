#include "sense/nvml/gpu_energy_counter.hpp"

namespace joulepilot::sense {

void GpuEnergyCounter::update(std::uint64_t energy_mj) {
    if (energy_mj >= m_high_water_mj) {
        m_total_mj += energy_mj - m_high_water_mj;
        m_high_water_mj = energy_mj;
        m_pending_low_mj.reset();
        return;
    }
    if (m_pending_low_mj && energy_mj >= *m_pending_low_mj) {
        // Two readings in a row below the mark and counting up: the counter restarted.
        m_total_mj += energy_mj - *m_pending_low_mj;
        m_high_water_mj = energy_mj;
        m_pending_low_mj.reset();
        ++m_resets;
        return;
    }
    if (!m_pending_low_mj) ++m_backward_steps;
    m_pending_low_mj = energy_mj;
}

}  // namespace joulepilot::sense
