#include "twin/replica/gpu_settings.hpp"

namespace joulepilot::twin {

std::string_view to_string(Precision p) { return p == Precision::fp8 ? "fp8" : "bf16"; }

}  // namespace joulepilot::twin
