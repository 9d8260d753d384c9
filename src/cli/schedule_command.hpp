#pragma once
// `joulepilot schedule plan|evaluate|study`: carbon- and cost-aware planning of flexible jobs (src/sched).

#include <CLI/CLI.hpp>

#include "cli/command.hpp"

namespace joulepilot::cli {

void add_schedule_command(CLI::App& app, CommandContext& context);

}  // namespace joulepilot::cli
