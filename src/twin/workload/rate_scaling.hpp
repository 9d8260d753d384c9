#pragma once
// Scaling a workload to a fleet: the method behind `--scale-peak F`.
// The *demand* of a window is the fleet capacity it needs: sum over its requests of the replica-seconds
// each one costs at default settings, divided by the window length (so it is in replicas). The peak
// window is the one with the highest demand; the scale factor makes that peak need F x the fleet.
// Scaling keeps the workload's duration and burst pattern: a factor below 1 keeps each request with
// probability F (thinning); above 1, each request is kept floor(F) times plus once more with probability
// frac(F), each copy shifted by a uniform jitter inside the gap to the next arrival. Deterministic by seed.

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/units.hpp"
#include "twin/workload/request_spec.hpp"
#include "twin/workload/request_stream.hpp"

namespace joulepilot::twin {

// Replica-seconds one request costs at default settings (from the replica model).
using RequestCost = std::function<double(int input_tokens, int output_tokens)>;

struct PeakDemand {
    core::Seconds window_start{0};
    double replicas_needed = 0;  // demand of the busiest window, in replicas
};

// Windows are [k x window, (k + 1) x window) from t = 0 (a last partial window is still divided by the full
// length); ties go to the earliest window. An empty workload, or window <= 0, gives {0 s, 0}.
PeakDemand peak_demand(const Workload& workload, core::Seconds window, const RequestCost& cost);
// The same over a stream (sorted by construction), read to its end without keeping it: the same numbers as
// the vector form of the same requests. `count`, when given, receives how many requests the stream held.
PeakDemand peak_demand(RequestStream& requests, core::Seconds window, const RequestCost& cost,
                       std::size_t* count = nullptr);

// Factor that makes the busiest `window` need `fraction` of `replicas` replicas:
// fraction x replicas / peak demand. 1 when the workload has no demand (nothing to scale from).
double peak_scale_factor(const Workload& workload, core::Seconds window, double fraction, int replicas,
                         const RequestCost& cost);
double peak_scale_factor(RequestStream& requests, core::Seconds window, double fraction, int replicas,
                         const RequestCost& cost);

// Precondition: factor > 0 and finite (callers validate user input; a violation asserts in debug builds
// and returns an empty workload otherwise). The first copy of a kept request keeps its arrival; the extra
// copies are jittered, so the result is sorted, never starts before nor ends after the input, and for a
// factor >= 1 contains every input request. The last request has no next arrival: its copies share its
// arrival. The input should be sorted by arrival (an unsorted input is sorted first).
Workload scale_workload(const Workload& workload, double factor, std::uint64_t seed);

}  // namespace joulepilot::twin
