#pragma once
// Small read-only queries over a KnobSpace that several policies share: which GPUs or replicas have a
// given knob, and the extremes of a knob's domain. Pure functions; safe from any thread that may read
// the KnobSpace.

#include <string_view>
#include <vector>

#include "act/knob.hpp"

namespace joulepilot::decide {

// Indices i of the knobs named "<group>.<i>.<leaf>" (e.g. group "gpu", leaf "sm_clock_cap_hz"),
// ascending. Names that do not have exactly that shape are skipped.
std::vector<int> knob_indices(const act::KnobSpace& knobs, std::string_view group, std::string_view leaf);

// The smallest and the largest value a knob's domain allows (of the value set, when it has one).
double lowest_value(const act::KnobDomain& domain);
double highest_value(const act::KnobDomain& domain);

}  // namespace joulepilot::decide
