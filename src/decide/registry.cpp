#include "decide/registry.hpp"

#include <fmt/format.h>

#include "decide/static_policy.hpp"

namespace joulepilot::decide {

std::vector<std::string> policy_names() { return {"static"}; }

core::Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const core::ConfigSection& /*config*/) {
    if (name == "static") return std::make_unique<StaticPolicy>();
    return core::fail(fmt::format("unknown policy '{}'; known policies: {}", name, fmt::join(policy_names(), ", ")));
}

}  // namespace joulepilot::decide
