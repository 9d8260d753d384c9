#pragma once
// Where the agent keeps its state on a node, worked out in one place so that `joulepilot agent` and
// `joulepilot restore` always find the same files (the restore after a crash depends on it).

#include <filesystem>
#include <string>

#include "core/config.hpp"

namespace joulepilot::cli {

// [agent] state_dir, default /var/lib/joulepilot.
std::filesystem::path agent_state_dir(const core::ConfigSection& root);

// The shield's file of original settings: `--state-file` when given (non-empty `flag_value`), else
// [shield] state_file, else <state_dir>/shield-state.json.
std::filesystem::path shield_state_file(const core::ConfigSection& root, const std::string& flag_value);

}  // namespace joulepilot::cli
