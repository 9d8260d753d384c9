#pragma once
// Writing one sysfs attribute (a RAPL power limit, a cpufreq scaling_max_freq) below a core::RootedFs root,
// for the node actuators (act/rapl, act/cpufreq). RootedFs only reads; this adds the one write they need,
// with the same errors: the full path and the kind (permission denied, not found, other) so the message
// can say what to do. Simulated errors of the RootedFs (tests) apply to writes too.
//
// A write never creates a file: sysfs attributes exist or the knob does not. Stateless and thread-safe.

#include <cstdint>
#include <string_view>

#include "core/rooted_fs.hpp"

namespace joulepilot::act {

// Writes `value` in decimal (no newline, as `echo -n`) to the attribute, replacing its content. EINVAL from
// the kernel (a value the driver refuses) is FileErrorKind::invalid_content.
core::FileResult<void> write_sysfs_u64(const core::RootedFs& fs, std::string_view relative,
                                       std::uint64_t value);

}  // namespace joulepilot::act
