#pragma once
// The shield's mode: observe (decide and log, write nothing; the default on real hardware), dry-run (log
// exactly what would be written) or act (write).

#include <cstdint>
#include <string_view>

#include "core/result.hpp"

namespace joulepilot::act {

enum class ShieldMode : std::uint8_t { observe, dry_run, act };
std::string_view to_string(ShieldMode mode);
core::Result<ShieldMode> parse_shield_mode(std::string_view text);

}  // namespace joulepilot::act
