#include "core/log.hpp"

#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace joulepilot::core {

Result<void> init_logging(std::string_view level) {
    const auto parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off") {
        return fail("log level '" + std::string(level) + "' is not one of trace, debug, info, warn, error, off");
    }
    auto logger = spdlog::stderr_color_mt("joulepilot");
    logger->set_pattern("%^%l%$: %v");
    spdlog::set_default_logger(logger);
    spdlog::set_level(parsed);
    return {};
}

}  // namespace joulepilot::core
