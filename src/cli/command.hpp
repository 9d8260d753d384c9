#pragma once
// Each subcommand lives in its own file and registers itself on the app with a function
// `void add_<name>_command(CLI::App& app, CommandContext& context)`. Its CLI11 callback only sets
// context.action; the app runs the action after parsing, once logging and the data folder are set up,
// and exits with the status it returns: 0 ok, 1 runtime failure, 2 bad input (usage, config, data file).

#include <functional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace joulepilot::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

// Thrown by an action for input the user can fix (a bad option value, data file or request); the app
// prints its message and exits with kExitBadInput. core::ConfigError is treated the same way; any other
// exception is a runtime failure (kExitFailure).
class BadInput : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CommandContext {
    std::function<int()> action;
    std::string data_dir;  // resolved: --data-dir, else $JOULEPILOT_DATA_DIR, else the compiled-in path
};

void add_twin_command(CLI::App& app, CommandContext& context);
void add_calibrate_command(CLI::App& app, CommandContext& context);
void add_sensors_command(CLI::App& app, CommandContext& context);
void add_measure_command(CLI::App& app, CommandContext& context);
void add_train_command(CLI::App& app, CommandContext& context);
void add_bench_command(CLI::App& app, CommandContext& context);
void add_ledger_command(CLI::App& app, CommandContext& context);
void add_audit_command(CLI::App& app, CommandContext& context);
void add_agent_command(CLI::App& app, CommandContext& context);
void add_restore_command(CLI::App& app, CommandContext& context);

}  // namespace joulepilot::cli
