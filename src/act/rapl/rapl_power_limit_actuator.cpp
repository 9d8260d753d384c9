#include "act/rapl/rapl_power_limit_actuator.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/text.hpp"

namespace joulepilot::act {

namespace {

constexpr double kMicrowattsPerWatt = 1e6;
// RAPL limits are kept in the hardware's power unit (1/8 W on most Intel parts); a read-back within 1 W of
// the written value is the write.
constexpr std::uint64_t kReadbackToleranceUw = 1'000'000;

constexpr std::string_view kPermissionFix =
    "writing RAPL power limits needs root, or write access for the agent's user to "
    "constraint_*_power_limit_uw (docs/actuators.md)";

// "constraint_12_name" -> 12.
std::optional<int> constraint_index(std::string_view file) {
    constexpr std::string_view kPrefix = "constraint_";
    constexpr std::string_view kSuffix = "_name";
    if (file.size() <= kPrefix.size() + kSuffix.size() || file.substr(0, kPrefix.size()) != kPrefix ||
        file.substr(file.size() - kSuffix.size()) != kSuffix) {
        return std::nullopt;
    }
    const std::string_view digits =
        file.substr(kPrefix.size(), file.size() - kPrefix.size() - kSuffix.size());
    int index = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return index;
}

// "package, psys" -> {"package", "psys"}; empty items are errors.
std::vector<std::string> comma_list(const core::ConfigSection& section, std::string_view key,
                                    std::string_view fallback) {
    const std::string text = section.string(key, fallback);
    std::vector<std::string> items;
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t comma = std::min(text.find(',', at), text.size());
        const std::string_view item = core::trim(std::string_view(text).substr(at, comma - at));
        if (item.empty()) {
            throw core::ConfigError(
                fmt::format("config: key '{}': empty item in \"{}\"", section.path_of(key), text));
        }
        items.emplace_back(item);
        at = comma + 1;
    }
    return items;
}

}  // namespace

RaplActuatorConfig read_rapl_actuator_config(const core::ConfigSection& section) {
    RaplActuatorConfig config;
    config.enable = section.boolean("enable", true);
    RaplActuatorOptions& o = config.options;
    o.domains.clear();
    for (const std::string& name : comma_list(section, "domains", "package,psys")) {
        bool known = false;
        for (auto domain : {sense::RaplDomain::package, sense::RaplDomain::core, sense::RaplDomain::uncore,
                            sense::RaplDomain::dram, sense::RaplDomain::psys}) {
            if (name == sense::to_string(domain)) {
                o.domains.push_back(domain);
                known = true;
            }
        }
        if (!known) {
            throw core::ConfigError(
                fmt::format("config: key '{}': '{}' is not one of package, core, uncore, dram, psys",
                            section.path_of("domains"), name));
        }
    }
    o.constraints = comma_list(section, "constraints", "long_term");
    o.step = core::Watts(section.number("step_watts", 1.0, 0.001, 1000.0));
    if (section.has("min_watts")) o.min = core::Watts(section.number("min_watts", 0.0, 0.0, 100000.0));
    if (section.has("max_watts")) o.max = core::Watts(section.number("max_watts", 0.0, 0.0, 100000.0));
    o.min_fraction_of_max = section.number("min_fraction_of_max", 0.5, 0.0, 1.0);
    config.min_interval = core::Seconds(section.number("min_interval_s", 10.0, 0.0, 86400.0));
    if (o.min && o.max && *o.min > *o.max) {
        throw core::ConfigError(fmt::format("config: key '{}' ({} W) is above '{}' ({} W)",
                                            section.path_of("min_watts"), o.min->value(),
                                            section.path_of("max_watts"), o.max->value()));
    }
    return config;
}

RaplPowerLimitActuator::RaplPowerLimitActuator(const core::RootedFs& fs, RaplActuatorOptions options)
    : SysfsActuator(fs, "rapl"), m_options(std::move(options)) {}

void RaplPowerLimitActuator::find_knobs() {
    const sense::RaplTopology topology = sense::discover_rapl_zones(fs(), m_options.discovery);
    if (!topology.powercap_present) {
        report_unavailable({fs().full_path(m_options.discovery.powercap_dir), "not present",
                            "load the intel_rapl_msr (Intel) or the AMD RAPL driver"});
    }
    for (const sense::RaplZone& zone : topology.zones) {
        if (std::find(m_options.domains.begin(), m_options.domains.end(), zone.domain) != m_options.domains.end()) {
            discover_zone(zone);
        }
    }
}

void RaplPowerLimitActuator::discover_zone(const sense::RaplZone& zone) {
    const std::string what = fmt::format("{} ({}) power limit", zone.id, zone.name);
    if (auto enabled = fs().read_line(zone.path + "/enabled"); enabled && *enabled == "0") {
        report_unavailable({what, "power limiting is off for this zone (enabled = 0)",
                                 "enable it (echo 1 > " + fs().full_path(zone.path + "/enabled") +
                                     ") if joulepilot should cap this zone"});
        return;
    }
    auto files = fs().list(zone.path);
    if (!files) {
        report_unavailable({what, files.error().message, ""});
        return;
    }
    bool any_constraint = false;
    for (const std::string& file : *files) {
        const auto index = constraint_index(file);
        if (!index) continue;
        any_constraint = true;
        auto constraint = fs().read_line(zone.path + "/" + file);
        if (!constraint) {
            report_unavailable({what, constraint.error().message, ""});
            continue;
        }
        if (std::find(m_options.constraints.begin(), m_options.constraints.end(), *constraint) ==
            m_options.constraints.end()) {
            continue;
        }
        const std::string prefix = fmt::format("{}/constraint_{}_", zone.path, *index);
        const std::string limit_file = prefix + "power_limit_uw";
        const std::string constraint_what = fmt::format("{} ({}) {} limit", zone.id, zone.name, *constraint);
        auto limit_uw = fs().read_u64(limit_file);
        if (!limit_uw) {
            const bool denied = limit_uw.error().kind == core::FileErrorKind::permission_denied;
            report_unavailable({constraint_what, limit_uw.error().message,
                                     denied ? std::string(kPermissionFix) : std::string()});
            continue;
        }
        // No max from the kernel: the limit found now is the ceiling (lower it, never raise it). The kernel
        // then enforces its own range: after a crash the limit found is the crashed run's, and recovery must
        // be able to write the higher original back.
        std::uint64_t max_uw = fs().read_u64(prefix + "max_power_uw").value_or(0);
        const bool kernel_max = max_uw != 0;
        if (!kernel_max) max_uw = *limit_uw;
        if (max_uw == 0) {
            report_unavailable({constraint_what, "no limit set and no max_power_uw to bound one", ""});
            continue;
        }
        const std::uint64_t kernel_min_uw = fs().read_u64(prefix + "min_power_uw").value_or(0);
        const double max_w = static_cast<double>(max_uw) / kMicrowattsPerWatt;
        const double hi = std::min(max_w, m_options.max.value_or(core::Watts(max_w)).value());
        const double lo =
            std::max({static_cast<double>(kernel_min_uw) / kMicrowattsPerWatt,
                      m_options.min.value_or(core::Watts(0)).value(), m_options.min_fraction_of_max * max_w});
        if (lo > hi) {
            report_unavailable(
                {constraint_what,
                 fmt::format("the allowed range is empty: floor {} W is above ceiling {} W", lo, hi),
                 "lower min_watts or min_fraction_of_max, or raise max_watts in [act.rapl]"});
            continue;
        }
        const std::string leaf =
            *constraint == "long_term" ? "power_limit_watts" : *constraint + "_power_limit_watts";
        SysfsKnob knob;
        knob.knob.name = zone.signal_prefix() + leaf;
        knob.knob.unit = "W";
        knob.knob.domain = KnobDomain{lo, hi, m_options.step.value(), {}};
        knob.knob.current = static_cast<double>(*limit_uw) / kMicrowattsPerWatt;
        knob.knob.default_value = knob.knob.current;
        knob.default_is_found = true;
        knob.ceiling_is_found = !kernel_max && hi == max_w;
        // The target carries the kernel's limits; the configured ones are the knob's domain (the shield's).
        knob.targets.push_back(
            SysfsTarget{limit_file, kernel_min_uw, kernel_max ? max_uw : UINT64_MAX, kReadbackToleranceUw});
        knob.raw_per_unit = kMicrowattsPerWatt;
        knob.verify_readback = true;
        knob.permission_fix = std::string(kPermissionFix);
        add(std::move(knob));
    }
    if (!any_constraint) {
        report_unavailable(
            {what, "the zone has no power-limit constraints (energy counter only, as on AMD)", ""});
    }
}

}  // namespace joulepilot::act
