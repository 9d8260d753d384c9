#include "cli/app.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "core/config.hpp"
#include "core/log.hpp"

namespace joulepilot::cli {

int run_app(int argc, char** argv) {
    CLI::App app{"joulepilot: an energy autopilot for AI workloads"};
    app.require_subcommand(1);
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    app.set_version_flag("--version", JOULEPILOT_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return 0;
}

}  // namespace joulepilot::cli
