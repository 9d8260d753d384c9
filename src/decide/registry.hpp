#pragma once
// Every policy is registered here, in one place, by name (one line of the table in registry.cpp).
// `config` is the policy's own section of the TOML config ([policy.threshold], ...); unknown keys there
// are rejected by the config document. `context` carries what some policies need beyond their config
// (policy_context.hpp).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "decide/policy.hpp"
#include "decide/policy_context.hpp"

namespace joulepilot::decide {

// Names of the policies that can run in this build, in the order tables list them.
std::vector<std::string> policy_names();
// The classic policies `twin run` compares when none is named (no model file, no oracle search).
std::vector<std::string> classic_policy_names();
// Fails naming the unknown policy and listing the known ones, or when the policy cannot run in this
// context (the oracle outside the twin). Config errors throw core::ConfigError.
core::Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const core::ConfigSection& config,
                                                  const PolicyContext& context = {});

// Reads the section of every known policy that `policies` ([policy]) holds, not only the one that runs: a
// config may carry the settings of policies it switches to later (PUT /v1/policy) or compares, and those
// keys must neither be rejected as unknown nor hold a bad value unnoticed. A bad value throws
// core::ConfigError; a policy that cannot run in this context (the oracle outside the twin) is not an error.
void read_policy_sections(const core::ConfigSection& policies, const PolicyContext& context = {});

}  // namespace joulepilot::decide
