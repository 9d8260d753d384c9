#pragma once
// Every policy is registered here, in one place, by name. `config` is the policy's own section of
// the TOML config ([policy.threshold], ...); unknown keys there are rejected by the config document.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "decide/policy.hpp"

namespace joulepilot::decide {

// Names of the policies that can run in this build, in the order tables list them.
std::vector<std::string> policy_names();
// Fails naming the unknown policy and listing the known ones. Config errors throw core::ConfigError.
core::Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const core::ConfigSection& config);

}  // namespace joulepilot::decide
