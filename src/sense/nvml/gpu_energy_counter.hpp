#pragma once
// GpuEnergyCounter turns NVML's total-energy reading (mJ since the driver was loaded, 64-bit, so it never
// wraps in practice: 2^64 mJ is 5e8 GWh) into a total since discovery that only ever grows.
//
// What the hardware can still do, and what we do about it:
// - A reading lower than the highest one seen (the high-water mark) is a *backward step*. We add nothing
//   for it and remember it as pending, because one reading cannot tell a glitch from a reset.
// - If a later reading is back at or above the high-water mark, it was a glitch: counting resumes from
//   the high-water mark, so no energy is lost or counted twice.
// - If the next reading is still below the mark but not below the pending one, the counter restarted
//   from a lower base (driver reload, board reset): it is a *reset*; counting resumes from the pending
//   reading. The energy used between the reset and the pending reading is not counted: at most one
//   sampling interval, never invented.
// - Still lower again: the new reading becomes the pending one.
// Both events are counted so the sensor can report them. All arithmetic is in integer mJ, so the total
// is exact; joules() converts once at the edge.
//
// Not thread-safe: owned by one sensor, called by the loop thread.

#include <cstdint>
#include <optional>

namespace joulepilot::sense {

class GpuEnergyCounter {
public:
    // The first reading sets the base: the total starts at 0.
    explicit GpuEnergyCounter(std::uint64_t first_energy_mj) : m_high_water_mj(first_energy_mj) {}

    void update(std::uint64_t energy_mj);

    [[nodiscard]] std::uint64_t total_mj() const { return m_total_mj; }
    [[nodiscard]] double total_joules() const { return static_cast<double>(m_total_mj) / 1000.0; }
    // Times the counter went below its high-water mark (glitches and resets alike; a run of low readings
    // counts once).
    [[nodiscard]] std::uint64_t backward_steps() const { return m_backward_steps; }
    // Backward steps confirmed as a counter restarted from a lower base.
    [[nodiscard]] std::uint64_t resets() const { return m_resets; }

private:
    std::uint64_t m_high_water_mj;
    std::optional<std::uint64_t> m_pending_low_mj;
    std::uint64_t m_total_mj = 0;
    std::uint64_t m_backward_steps = 0;
    std::uint64_t m_resets = 0;
};

}  // namespace joulepilot::sense
