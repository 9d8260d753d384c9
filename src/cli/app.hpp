#pragma once

namespace joulepilot::cli {

// Parses the command line, runs the subcommand, returns the process exit status.
int run_app(int argc, char** argv);

}  // namespace joulepilot::cli
