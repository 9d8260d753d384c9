#include "act/cpufreq/cpufreq_actuator.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>

#include <fmt/format.h>

namespace joulepilot::act {

namespace {

constexpr double kHertzPerKilohertz = 1e3;

constexpr std::string_view kPermissionFix =
    "writing scaling_max_freq needs root, or write access for the agent's user to "
    "/sys/devices/system/cpu/cpufreq/policy*/scaling_max_freq (docs/actuators.md)";

// Whitespace-separated non-negative integers ("0 1 2 3", "3400000 2800000 "); nullopt on anything else.
std::optional<std::vector<std::uint64_t>> parse_numbers(std::string_view text) {
    std::vector<std::uint64_t> out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n') {
            ++i;
            continue;
        }
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
        if (ec != std::errc()) return std::nullopt;
        out.push_back(value);
        i = static_cast<std::size_t>(end - text.data());
        if (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') return std::nullopt;
    }
    return out;
}

struct Policy {
    int number = 0;
    std::string dir;
    std::uint64_t min_khz = 0;  // lowest cap for this policy: cpuinfo_min_freq or scaling_min_freq
    std::uint64_t max_khz = 0;  // cpuinfo_max_freq
    std::uint64_t scaling_max_khz = 0;
    std::vector<std::uint64_t> available_khz;  // sorted; empty without a frequency table
};

}  // namespace

CpufreqActuatorConfig read_cpufreq_actuator_config(const core::ConfigSection& section) {
    CpufreqActuatorConfig config;
    config.enable = section.boolean("enable", true);
    CpufreqActuatorOptions& o = config.options;
    o.step = core::from_mhz(section.number("step_mhz", 100.0, 1.0, 10000.0));
    if (section.has("min_mhz")) o.min = core::from_mhz(section.number("min_mhz", 0.0, 0.0, 100000.0));
    if (section.has("max_mhz")) o.max = core::from_mhz(section.number("max_mhz", 0.0, 0.0, 100000.0));
    config.min_interval = core::Seconds(section.number("min_interval_s", 10.0, 0.0, 86400.0));
    if (o.min && o.max && *o.min > *o.max) {
        throw core::ConfigError(fmt::format("config: key '{}' ({} MHz) is above '{}' ({} MHz)",
                                            section.path_of("min_mhz"), core::to_mhz(*o.min),
                                            section.path_of("max_mhz"), core::to_mhz(*o.max)));
    }
    return config;
}

CpufreqActuator::CpufreqActuator(const core::RootedFs& fs, CpufreqActuatorOptions options)
    : SysfsActuator(fs, "cpufreq"), m_options(std::move(options)) {}

void CpufreqActuator::find_knobs() {
    const std::string policies_dir = m_options.cpu_dir + "/cpufreq";
    auto entries = fs().list(policies_dir);
    if (!entries) {
        report_unavailable({"cpufreq policies", entries.error().message,
                            "no cpufreq driver is loaded (usual in virtual machines)"});
        return;
    }
    std::map<std::uint64_t, std::vector<Policy>> packages;
    for (const std::string& entry : *entries) {
        constexpr std::string_view kPolicy = "policy";
        if (entry.rfind(kPolicy, 0) != 0) continue;
        int number = 0;
        const char* digits = entry.data() + kPolicy.size();
        const auto [end, ec] = std::from_chars(digits, entry.data() + entry.size(), number);
        if (ec != std::errc() || end != entry.data() + entry.size()) continue;

        Policy policy;
        policy.number = number;
        policy.dir = policies_dir + "/" + entry;
        auto cpuinfo_min = fs().read_u64(policy.dir + "/cpuinfo_min_freq");
        auto cpuinfo_max = fs().read_u64(policy.dir + "/cpuinfo_max_freq");
        auto scaling_max = fs().read_u64(policy.dir + "/scaling_max_freq");
        const core::FileResult<std::uint64_t>* failed = !cpuinfo_min   ? &cpuinfo_min
                                                        : !cpuinfo_max ? &cpuinfo_max
                                                        : !scaling_max ? &scaling_max
                                                                       : nullptr;
        if (failed != nullptr) {
            report_unavailable({entry, failed->error().message, ""});
            continue;
        }
        if (*cpuinfo_min == 0 || *cpuinfo_min > *cpuinfo_max) {
            report_unavailable({entry,
                                     fmt::format("cpuinfo_min_freq {} kHz above cpuinfo_max_freq {} kHz",
                                                 *cpuinfo_min, *cpuinfo_max),
                                     ""});
            continue;
        }
        policy.min_khz =
            std::min(std::max(*cpuinfo_min, fs().read_u64(policy.dir + "/scaling_min_freq").value_or(0)),
                     *cpuinfo_max);
        policy.max_khz = *cpuinfo_max;
        policy.scaling_max_khz = *scaling_max;
        if (auto table = fs().read(policy.dir + "/scaling_available_frequencies")) {
            if (auto numbers = parse_numbers(*table)) {
                policy.available_khz = std::move(*numbers);
                std::sort(policy.available_khz.begin(), policy.available_khz.end());
            }
        }
        // The policy's first CPU names the package (policyN is CPU N's policy when affected_cpus is absent).
        std::uint64_t first_cpu = static_cast<std::uint64_t>(number);
        if (auto cpus = fs().read(policy.dir + "/affected_cpus")) {
            if (auto list = parse_numbers(*cpus); list && !list->empty()) first_cpu = list->front();
        }
        auto package =
            fs().read_u64(fmt::format("{}/cpu{}/topology/physical_package_id", m_options.cpu_dir, first_cpu));
        if (!package) {
            report_unavailable(
                {entry, "package unknown (" + package.error().message + "); counted as package 0", ""});
        }
        packages[package.value_or(0)].push_back(std::move(policy));
    }
    if (packages.empty() && nothing_reported()) {
        report_unavailable({"cpufreq policies", "none under " + fs().full_path(policies_dir), ""});
    }

    for (auto& [package, policies] : packages) {
        std::sort(policies.begin(), policies.end(),
                  [](const Policy& a, const Policy& b) { return a.number < b.number; });
        std::uint64_t lo_khz = UINT64_MAX;
        std::uint64_t hi_khz = 0;
        std::uint64_t current_khz = 0;
        bool same_table = !policies.front().available_khz.empty();
        for (const Policy& p : policies) {
            lo_khz = std::min(lo_khz, p.min_khz);
            hi_khz = std::max(hi_khz, p.max_khz);
            current_khz = std::max(current_khz, p.scaling_max_khz);
            same_table = same_table && p.available_khz == policies.front().available_khz;
        }
        const double lo = std::max(static_cast<double>(lo_khz) * kHertzPerKilohertz,
                                   m_options.min.value_or(core::Hertz(0)).value());
        const double hi_hardware = static_cast<double>(hi_khz) * kHertzPerKilohertz;
        const double hi = std::min(hi_hardware, m_options.max.value_or(core::Hertz(hi_hardware)).value());
        const std::string name = fmt::format("cpu.{}.max_freq_hz", package);
        if (lo > hi) {
            report_unavailable(
                {name,
                 fmt::format("the allowed range is empty: floor {} MHz above ceiling {} MHz", lo / 1e6,
                             hi / 1e6),
                 "adjust min_mhz / max_mhz in [act.cpufreq]"});
            continue;
        }
        KnobDomain domain{lo, hi, m_options.step.value(), {}};
        if (same_table) {
            for (std::uint64_t khz : policies.front().available_khz) {
                const double hz = static_cast<double>(khz) * kHertzPerKilohertz;
                if (hz >= lo && hz <= hi) domain.values.push_back(hz);
            }
            if (!domain.values.empty()) {
                domain.min = domain.values.front();
                domain.max = domain.values.back();
                domain.step = 0;
            }
        }
        SysfsKnob knob;
        knob.knob.name = name;
        knob.knob.unit = "Hz";
        knob.knob.domain = domain;
        knob.knob.default_value = domain.max;
        knob.knob.current = static_cast<double>(current_khz) * kHertzPerKilohertz;
        for (const Policy& p : policies) {
            knob.targets.push_back(SysfsTarget{p.dir + "/scaling_max_freq", p.min_khz, p.max_khz, 0});
        }
        knob.raw_per_unit = 1.0 / kHertzPerKilohertz;
        knob.permission_fix = std::string(kPermissionFix);
        add(std::move(knob));
    }
}

}  // namespace joulepilot::act
