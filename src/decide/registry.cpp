#include "decide/registry.hpp"

#include <fmt/format.h>

#include "decide/idle_fsm_policy.hpp"
#include "decide/static_policy.hpp"
#include "decide/threshold_policy.hpp"

namespace joulepilot::decide {

std::vector<std::string> policy_names() { return {"static", "threshold", "idle-fsm"}; }

core::Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const core::ConfigSection& config) {
    // `static` reads no keys, so anything under [policy.static] is reported as unknown.
    if (name == "static") return std::make_unique<StaticPolicy>();
    if (name == "threshold") return std::make_unique<ThresholdPolicy>(ThresholdConfig::from(config));
    if (name == "idle-fsm") return std::make_unique<IdleFsmPolicy>(IdleFsmConfig::from(config));
    return core::fail(
        fmt::format("unknown policy '{}'; known policies: {}", name, fmt::join(policy_names(), ", ")));
}

}  // namespace joulepilot::decide
