#include "act/knob.hpp"

#include <algorithm>
#include <cmath>

namespace joulepilot::act {

double KnobDomain::clamp(double value) const {
    if (!values.empty()) {
        double best = values.front();
        for (double v : values) {
            if (std::abs(v - value) < std::abs(best - value)) best = v;
        }
        return best;
    }
    double clamped = std::clamp(value, min, max);
    if (step > 0) {
        clamped = min + std::round((clamped - min) / step) * step;
        clamped = std::clamp(clamped, min, max);
    }
    return clamped;
}

bool KnobDomain::contains(double value) const {
    if (!values.empty()) return std::find(values.begin(), values.end(), value) != values.end();
    return value >= min && value <= max;
}

void KnobSpace::add(Knob knob) {
    m_index.emplace(knob.name, m_knobs.size());
    m_knobs.push_back(std::move(knob));
}

std::optional<std::size_t> KnobSpace::find(std::string_view name) const {
    const auto it = m_index.find(std::string(name));
    if (it == m_index.end()) return std::nullopt;
    return it->second;
}

const Knob* KnobSpace::get(std::string_view name) const {
    const auto index = find(name);
    return index ? &m_knobs[*index] : nullptr;
}

}  // namespace joulepilot::act
