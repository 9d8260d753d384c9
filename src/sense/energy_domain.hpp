#pragma once
// What an energy counter measures: the *domain* of a signal in J whose name ends in
// "energy_joules_total" ("gpu.0.energy_joules_total" -> "gpu.0", "cpu.0.package_energy_joules_total" ->
// "cpu.0.package"). Everything that meters energy over sensors (the C API's windows, `joulepilot
// measure`) names its domains this way, so the same hardware has the same name everywhere.

#include <optional>
#include <string>

#include "sense/observation.hpp"

namespace joulepilot::sense {

// The domain an energy counter measures; nullopt for any other signal (another unit or name).
std::optional<std::string> energy_domain_name(const SignalInfo& signal);

}  // namespace joulepilot::sense
