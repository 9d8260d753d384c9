// joulepilot: the command-line entry point. Subcommands live in src/cli/*_command.cpp.
#include "cli/app.hpp"

int main(int argc, char** argv) { return joulepilot::cli::run_app(argc, argv); }
