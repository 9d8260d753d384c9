#include "decide/registry.hpp"

#include <functional>

#include <fmt/format.h>

#include "decide/bandit_policy.hpp"
#include "decide/harmful_clocks_policy.hpp"
#include "decide/idle_fsm_policy.hpp"
#include "decide/idle_parking.hpp"
#include "decide/mpc_policy.hpp"
#include "decide/oracle_policy.hpp"
#include "decide/rl_policy.hpp"
#include "decide/static_policy.hpp"
#include "decide/threshold_policy.hpp"

namespace joulepilot::decide {
namespace {

using Factory = std::function<core::Result<std::unique_ptr<Policy>>(const core::ConfigSection&, const PolicyContext&)>;

std::unique_ptr<Policy> mpc(const core::ConfigSection& config, const PolicyContext& context) {
    MpcConfig c = MpcConfig::from(config, context.data_dir + "/models/energy_model.json");
    c.decide_interval_s = context.decide_interval_s;
    if (context.groups) c.space.groups = *context.groups;
    std::unique_ptr<Policy> policy = context.energy_model ? std::make_unique<MpcPolicy>(c, context.energy_model)
                                                          : std::make_unique<MpcPolicy>(c);
    // idle-fsm composes: an idle GPU is parked whatever mpc says (off with idle_parking = false).
    if (config.boolean("idle_parking", true)) {
        return std::make_unique<IdleParking>(std::move(policy), IdleFsmConfig::from(config.section("idle")));
    }
    return policy;
}

// The registry: one line per policy, in table order. `static` reads no keys, so anything under
// [policy.static] is reported as unknown.
const std::vector<std::pair<std::string, Factory>>& table() {
    static const std::vector<std::pair<std::string, Factory>> entries = {
        {"static", [](const auto&, const auto&) -> core::Result<std::unique_ptr<Policy>> { return std::make_unique<StaticPolicy>(); }},
        {"threshold", [](const auto& c, const auto&) -> core::Result<std::unique_ptr<Policy>> { return std::make_unique<ThresholdPolicy>(ThresholdConfig::from(c)); }},
        {"idle-fsm", [](const auto& c, const auto&) -> core::Result<std::unique_ptr<Policy>> { return std::make_unique<IdleFsmPolicy>(IdleFsmConfig::from(c)); }},
        {"mpc", [](const auto& c, const auto& x) -> core::Result<std::unique_ptr<Policy>> { return mpc(c, x); }},
        {"oracle", [](const auto& c, const auto& x) -> core::Result<std::unique_ptr<Policy>> {
             OracleConfig config = OracleConfig::from(c);
             if (x.groups) config.space.groups = *x.groups;
             auto p = OraclePolicy::create(config, x);
             if (!p) return tl::unexpected(p.error());
             return std::unique_ptr<Policy>(std::move(*p));
         }},
        {"bandit", [](const auto& c, const auto& x) -> core::Result<std::unique_ptr<Policy>> { BanditConfig b = BanditConfig::from(c, x.data_dir + "/models/energy_model.json"); return x.energy_model ? std::make_unique<BanditPolicy>(b, x.energy_model) : std::make_unique<BanditPolicy>(b); }},
        {"rl", [](const auto& c, const auto& x) -> core::Result<std::unique_ptr<Policy>> { RlConfig r = RlConfig::from(c, x.data_dir + "/models/rl_policy.json"); r.decide_interval_s = x.decide_interval_s; return std::make_unique<RlPolicy>(r); }},
        // A deliberately bad policy for showing and measuring the shield's SLO guard (tests, bench).
        {"harmful-clocks", [](const auto& c, const auto&) -> core::Result<std::unique_ptr<Policy>> { return std::make_unique<HarmfulClocksPolicy>(HarmfulClocksConfig::from(c)); }},
    };
    return entries;
}

}  // namespace

std::vector<std::string> policy_names() {
    std::vector<std::string> names;
    for (const auto& [name, factory] : table()) names.push_back(name);
    return names;
}

std::vector<std::string> classic_policy_names() { return {"static", "threshold", "idle-fsm"}; }

core::Result<std::unique_ptr<Policy>> make_policy(std::string_view name, const core::ConfigSection& config,
                                                  const PolicyContext& context) {
    for (const auto& [known, factory] : table()) {
        if (known == name) return factory(config, context);
    }
    return core::fail(
        fmt::format("unknown policy '{}'; known policies: {}", name, fmt::join(policy_names(), ", ")));
}

void read_policy_sections(const core::ConfigSection& policies, const PolicyContext& context) {
    for (const auto& [name, factory] : table()) {
        if (policies.has(name)) (void)factory(policies.section(name), context);
    }
}

}  // namespace joulepilot::decide
