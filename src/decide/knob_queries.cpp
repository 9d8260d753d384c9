#include "decide/knob_queries.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace joulepilot::decide {

std::vector<int> knob_indices(const act::KnobSpace& knobs, std::string_view group, std::string_view leaf) {
    std::vector<int> indices;
    for (const act::Knob& knob : knobs.knobs()) {
        std::string_view name = knob.name;
        // "<group>." + digits + "." + leaf: the shortest such name has one digit.
        if (name.size() < group.size() + leaf.size() + 3) continue;
        if (!name.starts_with(group) || name[group.size()] != '.') continue;
        if (!name.ends_with(leaf) || name[name.size() - leaf.size() - 1] != '.') continue;
        const std::string_view digits =
            name.substr(group.size() + 1, name.size() - group.size() - leaf.size() - 2);
        if (digits.empty() ||
            !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        int index = 0;
        const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
        if (error != std::errc() || end != digits.data() + digits.size()) continue;
        indices.push_back(index);
    }
    std::sort(indices.begin(), indices.end());
    indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
    return indices;
}

double lowest_value(const act::KnobDomain& domain) {
    if (!domain.values.empty()) return *std::min_element(domain.values.begin(), domain.values.end());
    return domain.min;
}

double highest_value(const act::KnobDomain& domain) {
    if (!domain.values.empty()) return *std::max_element(domain.values.begin(), domain.values.end());
    if (domain.step > 0 && domain.max > domain.min) {
        // The top of the grid, which sits below max when (max - min) is not a whole number of steps.
        // The small allowance keeps 1980e6 on a 15e6 grid from 210e6 from losing a step to rounding.
        const double steps = std::floor((domain.max - domain.min) / domain.step + 1e-9);
        return std::min(domain.max, domain.min + steps * domain.step);
    }
    return domain.max;
}

}  // namespace joulepilot::decide
