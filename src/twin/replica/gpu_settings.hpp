#pragma once
// The knobs of one serving replica (one GPU): SM clock cap, power limit, batch cap (vLLM max_num_seqs)
// and precision. Defaults are the `static` baseline: H100 SXM at max clocks and 700 W, batch cap 256, bf16.

#include <cstdint>
#include <string_view>

#include "core/units.hpp"

namespace joulepilot::twin {

enum class Precision : std::uint8_t { bf16 = 0, fp8 = 1 };
std::string_view to_string(Precision p);

struct GpuSettings {
    core::Hertz sm_clock_cap = core::from_mhz(1980);  // H100 SXM maximum boost clock
    core::Watts power_limit{700};
    int batch_cap = 256;
    Precision precision = Precision::bf16;
};

// H100 SXM limits the knobs are clamped to.
struct H100Limits {
    static constexpr double kMinClockMhz = 210;
    static constexpr double kMaxClockMhz = 1980;
    static constexpr double kClockStepMhz = 15;
    static constexpr double kMinPowerLimitW = 200;
    static constexpr double kMaxPowerLimitW = 700;
    static constexpr int kMinBatchCap = 1;
    static constexpr int kMaxBatchCap = 1024;
};

}  // namespace joulepilot::twin
