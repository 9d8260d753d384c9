#include "act/shield/shield_settings.hpp"

#include <limits>

#include <fmt/format.h>

namespace joulepilot::act {

namespace {

constexpr double kHuge = std::numeric_limits<double>::max();

KnobRule read_rule(const std::string& pattern, const core::ConfigSection& table) {
    KnobRule rule;
    rule.pattern = pattern;
    rule.allowed = table.boolean("allow", true);
    if (table.has("min")) rule.min = table.number("min", 0, -kHuge, kHuge);
    if (table.has("max")) rule.max = table.number("max", 0, -kHuge, kHuge);
    if (table.has("step")) rule.step = table.number("step", 0, 0, kHuge);
    if (table.has("min_interval_s")) rule.min_interval = core::Seconds(table.number("min_interval_s", 0, 0, 86400));
    rule.deadband = table.number("deadband", 0, 0, kHuge);
    if (rule.min && rule.max && *rule.min > *rule.max) {
        throw core::ConfigError(fmt::format("config: [shield.knobs.\"{}\"]: min {} is above max {}", pattern,
                                            *rule.min, *rule.max));
    }
    return rule;
}

}  // namespace

ShieldSettings read_shield_settings(const core::ConfigSection& shield, ShieldSettings s) {
    const std::string mode = shield.string("mode", to_string(s.mode), {"observe", "dry-run", "act"});
    s.mode = *parse_shield_mode(mode);
    s.allow_unlisted = shield.boolean("allow_unlisted", s.allow_unlisted);
    s.max_failures = static_cast<int>(shield.integer("max_failures", s.max_failures, 1, 1000));
    if (shield.has("state_file")) s.state_file = shield.string("state_file", "");

    const core::ConfigSection canary = shield.section("canary");
    s.canary.hold = core::Seconds(canary.number("hold_s", s.canary.hold.value(), 0, 3600));

    const core::ConfigSection guard = shield.section("guard");
    s.guard.enabled = guard.boolean("enabled", s.guard.enabled);
    s.guard.watch = core::Seconds(guard.number("watch_s", s.guard.watch.value(), 1, 86400));
    const std::string judge = guard.string("judge_against", to_string(s.guard.judge_against), {"announced", "before"});
    s.guard.judge_against = judge == "announced" ? JudgeAgainst::announced : JudgeAgainst::before;
    s.guard.max_latency_increase = guard.number("max_latency_increase", s.guard.max_latency_increase, 0, 100);
    const std::string basis = guard.string("latency_basis", s.guard.latency_basis == LatencyBasis::slo ? "slo" : "before",
                                           {"slo", "before"});
    s.guard.latency_basis = basis == "slo" ? LatencyBasis::slo : LatencyBasis::before;
    s.guard.max_throughput_drop = guard.number("max_throughput_drop", s.guard.max_throughput_drop, 0, 1);
    s.guard.backoff = core::Seconds(guard.number("backoff_s", s.guard.backoff.value(), 0, 7 * 86400));
    s.guard.confirm = core::Seconds(guard.number("confirm_s", s.guard.confirm.value(), 0, 3600));
    s.guard.severe_attainment_drop =
        guard.number("severe_attainment_drop", s.guard.severe_attainment_drop, 0, 1);
    s.guard.attainment_z = guard.number("attainment_z", s.guard.attainment_z, 0, 10);
    s.guard.attainment_window =
        core::Seconds(guard.number("attainment_window_s", s.guard.attainment_window.value(), 1, 3600));

    const core::ConfigSection knobs = shield.section("knobs");
    for (const std::string& pattern : knobs.keys()) s.rules.add(read_rule(pattern, knobs.section(pattern)));
    return s;
}

}  // namespace joulepilot::act
