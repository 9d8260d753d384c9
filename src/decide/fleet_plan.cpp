#include "decide/fleet_plan.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "core/units.hpp"
#include "decide/knob_queries.hpp"

namespace joulepilot::decide {
namespace {

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ',')) {
        item.erase(std::remove(item.begin(), item.end(), ' '), item.end());
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

const act::Knob* find(const act::KnobSpace& knobs, const std::string& name) { return knobs.get(name); }

// A knob's current value, or `fallback` when the fleet has no such knob.
double current_value(const act::KnobSpace& knobs, const std::string& name, double fallback) {
    const act::Knob* k = find(knobs, name);
    return k != nullptr ? k->current : fallback;
}

std::string knob(const char* group, int i, const char* leaf) {
    return fmt::format("{}.{}.{}", group, i, leaf);
}

}  // namespace

unsigned parse_groups(const std::string& text) {
    unsigned groups = 0;
    for (const std::string& item : split(text)) {
        if (item == "batching") {
            groups |= kBatching;
        } else if (item == "clocks") {
            groups |= kClocks;
        } else if (item == "precision") {
            groups |= kPrecision;
        } else if (item == "replicas") {
            groups |= kReplicas;
        } else if (item == "all") {
            groups |= kAllGroups;
        } else if (item != "none") {
            throw core::ConfigError(fmt::format(
                "knob group '{}' is not one of: batching, clocks, precision, replicas, all, none", item));
        }
    }
    return groups;
}

std::string groups_to_string(unsigned groups) {
    std::vector<std::string> names;
    if ((groups & kBatching) != 0) names.emplace_back("batching");
    if ((groups & kClocks) != 0) names.emplace_back("clocks");
    if ((groups & kPrecision) != 0) names.emplace_back("precision");
    if ((groups & kReplicas) != 0) names.emplace_back("replicas");
    return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ","));
}

SearchSpace SearchSpace::from(const core::ConfigSection& section) {
    SearchSpace space;
    space.groups = parse_groups(section.string("groups", "batching,clocks,precision,replicas"));
    const std::string clocks = section.string("clocks_mhz", "1980,1740,1500,1260");
    space.clocks_mhz.clear();
    for (const std::string& item : split(clocks)) {
        double mhz = 0;
        try {
            mhz = std::stod(item);
        } catch (const std::exception&) {
            throw core::ConfigError(fmt::format("{}: '{}' is not a number of MHz", section.path_of("clocks_mhz"), item));
        }
        if (mhz < 210 || mhz > 1980) {
            throw core::ConfigError(fmt::format("{}: {} MHz is outside 210-1980", section.path_of("clocks_mhz"), mhz));
        }
        space.clocks_mhz.push_back(mhz);
    }
    const std::string caps = section.string("batch_caps", "64,128,256");
    space.batch_caps.clear();
    for (const std::string& item : split(caps)) {
        int cap = 0;
        try {
            cap = std::stoi(item);
        } catch (const std::exception&) {
            throw core::ConfigError(fmt::format("{}: '{}' is not a batch cap", section.path_of("batch_caps"), item));
        }
        if (cap < 1 || cap > 1024) {
            throw core::ConfigError(fmt::format("{}: {} is outside 1-1024", section.path_of("batch_caps"), cap));
        }
        space.batch_caps.push_back(cap);
    }
    if (space.clocks_mhz.empty() || space.batch_caps.empty()) {
        throw core::ConfigError(fmt::format("{}: clocks_mhz and batch_caps need at least one value",
                                            section.path_of("batch_caps")));
    }
    space.min_active = static_cast<int>(section.integer("min_active", 1, 1, 100000));
    return space;
}

CandidateGrid make_grid(const act::KnobSpace& knobs, const SearchSpace& space) {
    CandidateGrid grid;
    grid.replicas = static_cast<int>(knob_indices(knobs, "replica", "active").size());
    grid.min_active = std::min(space.min_active, std::max(1, grid.replicas));
    if (const act::Knob* k = find(knobs, "gpu.0.sm_clock_cap_hz")) grid.defaults.clock_mhz = core::to_mhz(core::Hertz(k->default_value));
    if (const act::Knob* k = find(knobs, "gpu.0.power_limit_watts")) grid.defaults.power_limit_w = k->default_value;
    if (const act::Knob* k = find(knobs, "replica.0.batch_cap")) grid.defaults.batch_cap = static_cast<int>(k->default_value);
    if (const act::Knob* k = find(knobs, "replica.0.precision")) grid.defaults.fp8 = k->default_value >= 0.5 ? 1 : 0;
    const bool has_precision = find(knobs, "replica.0.precision") != nullptr;

    std::vector<double> clocks = (space.groups & kClocks) != 0 ? space.clocks_mhz : std::vector<double>{grid.defaults.clock_mhz};
    std::vector<int> caps = (space.groups & kBatching) != 0 ? space.batch_caps : std::vector<int>{grid.defaults.batch_cap};
    std::vector<int> precisions = ((space.groups & kPrecision) != 0 && has_precision) ? std::vector<int>{0, 1}
                                                                                      : std::vector<int>{grid.defaults.fp8};
    for (int fp8 : precisions) {
        for (int cap : caps) {
            for (double mhz : clocks) {
                grid.configs.push_back({mhz, grid.defaults.power_limit_w, cap, fp8});
            }
        }
    }
    return grid;
}

std::string knob_space_signature(const act::KnobSpace& knobs) {
    // Per-replica knob leaves of replica 0 with their domains: "sm_clock_cap_hz[210e6..1980e6/15e6]...".
    std::vector<std::string> parts;
    for (const act::Knob& k : knobs.knobs()) {
        std::string_view name = k.name;
        const std::string_view gpu0 = "gpu.0.";
        const std::string_view replica0 = "replica.0.";
        std::string_view leaf;
        if (name.starts_with(gpu0)) {
            leaf = name.substr(gpu0.size());
        } else if (name.starts_with(replica0)) {
            leaf = name.substr(replica0.size());
        } else {
            continue;
        }
        std::string values;
        for (double v : k.domain.values) values += fmt::format("{:g};", v);
        parts.push_back(fmt::format("{}[{:g}..{:g}/{:g}{}{}]", leaf, k.domain.min, k.domain.max, k.domain.step,
                                    values.empty() ? "" : " ", values));
    }
    std::sort(parts.begin(), parts.end());
    return fmt::format("{}", fmt::join(parts, " "));
}

std::vector<int> replica_states(const learn::ObservationWindow& window, int replicas) {
    std::vector<int> states(static_cast<std::size_t>(replicas), -1);
    if (window.empty()) return states;
    for (int i = 0; i < replicas; ++i) {
        if (auto v = window.latest(knob("replica", i, "state"))) states[static_cast<std::size_t>(i)] = static_cast<int>(*v);
    }
    return states;
}

int replicas_up(const std::vector<int>& states) {
    return static_cast<int>(std::count_if(states.begin(), states.end(), [](int s) { return s == 1 || s == 2; }));
}

FleetAction current_action(const act::KnobSpace& knobs, const std::vector<int>& states, const ReplicaConfig& defaults) {
    FleetAction now{0, defaults};
    double clock_hz = 0;
    double power_w = 0;
    double cap = 0;
    int fp8 = 0;
    auto value = [&](const std::string& name, double fallback) { return current_value(knobs, name, fallback); };
    for (int i = 0; i < static_cast<int>(states.size()); ++i) {
        const int s = states[static_cast<std::size_t>(i)];
        if (s != 1 && s != 2) continue;
        ++now.active;
        clock_hz += value(knob("gpu", i, "sm_clock_cap_hz"), core::from_mhz(defaults.clock_mhz).value());
        power_w += value(knob("gpu", i, "power_limit_watts"), defaults.power_limit_w);
        cap += value(knob("replica", i, "batch_cap"), defaults.batch_cap);
        fp8 += value(knob("replica", i, "precision"), defaults.fp8) >= 0.5 ? 1 : 0;
    }
    if (now.active == 0) return now;
    const double n = now.active;
    now.config = {core::to_mhz(core::Hertz(clock_hz / n)), power_w / n, static_cast<int>(std::lround(cap / n)),
                  2 * fp8 >= now.active ? 1 : 0};
    return now;
}

std::vector<act::KnobSetting> actuate(const act::KnobSpace& knobs, const std::vector<int>& states,
                                      const FleetAction& target, unsigned groups) {
    std::vector<act::KnobSetting> out;
    auto set = [&](const std::string& name, double value) {
        const act::Knob* k = find(knobs, name);
        if (k != nullptr && k->current != value) out.push_back({name, value});
    };
    auto current = [&](const std::string& name, double fallback) { return current_value(knobs, name, fallback); };
    const int n = static_cast<int>(states.size());
    const ReplicaConfig& c = target.config;
    auto wrong_precision = [&](int i) {
        return (groups & kPrecision) != 0 && static_cast<int>(current(knob("replica", i, "precision"), 0)) != c.fp8;
    };

    // Clocks, power limits and batch caps take effect at once on every replica.
    for (int i = 0; i < n; ++i) {
        if ((groups & kClocks) != 0) {
            set(knob("gpu", i, "sm_clock_cap_hz"), core::from_mhz(c.clock_mhz).value());
            set(knob("gpu", i, "power_limit_watts"), c.power_limit_w);
        }
        if ((groups & kBatching) != 0) set(knob("replica", i, "batch_cap"), c.batch_cap);
    }

    // Who serves. Without the replicas group every replica serves (waking any parked one).
    std::vector<int> up;
    std::vector<int> parked;
    std::vector<int> draining;
    for (int i = 0; i < n; ++i) {
        const int s = states[static_cast<std::size_t>(i)];
        if (s == 1 || s == 2) up.push_back(i);
        if (s == 0) parked.push_back(i);
        if (s == 3) draining.push_back(i);
    }
    const int want = (groups & kReplicas) != 0 ? std::clamp(target.active, 1, n) : n;
    int have = static_cast<int>(up.size());
    std::vector<act::KnobSetting> active_settings;
    // Parked replicas get the target precision while asleep: free, and it is what they wake with.
    for (int i : parked) {
        if (wrong_precision(i)) set(knob("replica", i, "precision"), c.fp8);
    }
    if (have < want) {
        // A draining replica with the right precision comes back at once; then parked ones, lowest first.
        for (int i : draining) {
            if (have >= want) break;
            if (wrong_precision(i)) continue;
            out.push_back({knob("replica", i, "active"), 1});
            ++have;
        }
        for (int i : parked) {
            if (have >= want) break;
            out.push_back({knob("replica", i, "active"), 1});
            ++have;
        }
    } else if (have > want) {
        // Park the surplus: wrong precision first, then the highest index.
        std::vector<int> order = up;
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            if (wrong_precision(a) != wrong_precision(b)) return wrong_precision(a);
            return a > b;
        });
        for (int k = 0; k < have - want; ++k) out.push_back({knob("replica", order[static_cast<std::size_t>(k)], "active"), 0});
    } else if ((groups & kPrecision) != 0) {
        // At the target count but some serve the wrong precision: wake one spare with the right one (the
        // surplus is parked next time, wrong precision first); with no spare, reload one directly only
        // if the others would still cover the target.
        const bool any_wrong = std::any_of(up.begin(), up.end(), wrong_precision);
        const bool any_waking = std::any_of(states.begin(), states.end(), [](int s) { return s == 1; });
        if (any_wrong && !any_waking && draining.empty()) {
            if (!parked.empty()) {
                out.push_back({knob("replica", parked.front(), "active"), 1});
            }
        }
    }
    return out;
}

}  // namespace joulepilot::decide
