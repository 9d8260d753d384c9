#include "cli/app.hpp"

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "core/config.hpp"
#include "cli/schedule_command.hpp"
#include "core/log.hpp"

namespace joulepilot::cli {

int run_app(int argc, char** argv) {
    CLI::App app{
        "joulepilot: an energy autopilot for AI workloads.\n"
        "Measures the joules, grams of CO2 and money each GPU, request and token costs, cuts energy under a\n"
        "latency SLO, and runs flexible work when the grid is cleaner. Start with `joulepilot twin run`."};
    app.require_subcommand(1);
    CommandContext context;
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    app.add_option("--data-dir", context.data_dir,
                   "Folder of the shipped data sets (default: $JOULEPILOT_DATA_DIR, else " JOULEPILOT_DATA_DIR ")");
    app.set_version_flag("--version", JOULEPILOT_VERSION);
    add_twin_command(app, context);
    add_calibrate_command(app, context);
    add_sensors_command(app, context);
    add_measure_command(app, context);
    add_schedule_command(app, context);
    add_train_command(app, context);
    add_bench_command(app, context);
    add_ledger_command(app, context);
    add_audit_command(app, context);
    add_agent_command(app, context);
    add_restore_command(app, context);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? kExitOk : kExitBadInput;
    }
    if (auto logging = core::init_logging(log_level); !logging) {
        std::cerr << "error: --log-level: " << logging.error().message << "\n";
        return kExitBadInput;
    }
    if (context.data_dir.empty()) {
        const char* env = std::getenv("JOULEPILOT_DATA_DIR");
        context.data_dir = (env != nullptr && *env != '\0') ? env : JOULEPILOT_DATA_DIR;
    }
    if (!context.action) return kExitOk;
    // One guard for every command: input errors exit 2 with their message, anything else exits 1.
    try {
        return context.action();
    } catch (const core::ConfigError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const BadInput& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kExitFailure;
    }
}

}  // namespace joulepilot::cli
