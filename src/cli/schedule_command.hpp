#pragma once
// `joulepilot schedule plan|evaluate|study|run`: carbon- and cost-aware planning of flexible jobs (src/sched)
// and the Kubernetes controller that carries a plan out.

#include <CLI/CLI.hpp>

#include "cli/command.hpp"

namespace joulepilot::cli {

void add_schedule_command(CLI::App& app, CommandContext& context);

}  // namespace joulepilot::cli
