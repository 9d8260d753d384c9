#include "cli/agent_paths.hpp"

#include <gtest/gtest.h>

namespace joulepilot::cli {
namespace {

core::ConfigDocument parse(const char* text) { return core::ConfigDocument::parse(text, "test.toml"); }

TEST(AgentPaths, StateDirDefaultsToVarLib) {
    EXPECT_EQ(agent_state_dir(core::ConfigDocument::empty().root()), "/var/lib/joulepilot");
    EXPECT_EQ(agent_state_dir(parse("[agent]\nstate_dir = \"/srv/jp\"\n").root()), "/srv/jp");
}

TEST(AgentPaths, ShieldStateFileFollowsFlagThenConfigThenStateDir) {
    auto only_dir = parse("[agent]\nstate_dir = \"/srv/jp\"\n");
    EXPECT_EQ(shield_state_file(only_dir.root(), ""), "/srv/jp/shield-state.json");

    auto with_file = parse("[agent]\nstate_dir = \"/srv/jp\"\n[shield]\nstate_file = \"/etc/jp/saved.json\"\n");
    EXPECT_EQ(shield_state_file(with_file.root(), ""), "/etc/jp/saved.json");
    // The flag wins over the config, for `agent` and `restore` alike (they must find the same file).
    EXPECT_EQ(shield_state_file(with_file.root(), "/tmp/flag.json"), "/tmp/flag.json");
}

}  // namespace
}  // namespace joulepilot::cli
