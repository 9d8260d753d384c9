#pragma once
// Logging goes through spdlog. The CLI sets the level once at start; library code just logs.

#include <string_view>

#include <spdlog/spdlog.h>

#include "core/result.hpp"

namespace joulepilot::core {

// level: trace, debug, info, warn, error, off. Logs go to stderr so stdout stays machine-readable.
Result<void> init_logging(std::string_view level);

}  // namespace joulepilot::core
