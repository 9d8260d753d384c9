#pragma once
// One request of a workload: when it arrives (seconds from the start of the workload) and its prompt
// and output lengths in tokens. A workload is a vector of these sorted by arrival.

#include <vector>

#include "core/units.hpp"

namespace joulepilot::twin {

struct RequestSpec {
    core::Seconds arrival{0};
    int input_tokens = 0;
    int output_tokens = 0;
};

using Workload = std::vector<RequestSpec>;

}  // namespace joulepilot::twin
