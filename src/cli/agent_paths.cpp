#include "cli/agent_paths.hpp"

namespace joulepilot::cli {

std::filesystem::path agent_state_dir(const core::ConfigSection& root) {
    return root.section("agent").string("state_dir", "/var/lib/joulepilot");
}

std::filesystem::path shield_state_file(const core::ConfigSection& root, const std::string& flag_value) {
    if (!flag_value.empty()) return flag_value;
    const core::ConfigSection shield = root.section("shield");
    if (shield.has("state_file")) return shield.string("state_file", "");
    return agent_state_dir(root) / "shield-state.json";
}

}  // namespace joulepilot::cli
