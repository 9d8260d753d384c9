#include "act/shield/knob_rules.hpp"

namespace joulepilot::act {

bool glob_match(std::string_view pattern, std::string_view name) {
    // Iterative '*' matching with one back-track point (the usual linear-time wildcard match).
    std::size_t p = 0;
    std::size_t n = 0;
    std::size_t star = std::string_view::npos;
    std::size_t resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.size() && pattern[p] == name[n]) {
            ++p;
            ++n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

const KnobRule* KnobRules::match(std::string_view knob) const {
    for (auto it = m_rules.rbegin(); it != m_rules.rend(); ++it) {
        if (glob_match(it->pattern, knob)) return &*it;
    }
    return nullptr;
}

core::Seconds KnobRules::min_interval(std::string_view knob) const {
    for (auto it = m_rules.rbegin(); it != m_rules.rend(); ++it) {
        if (it->min_interval && glob_match(it->pattern, knob)) return *it->min_interval;
    }
    return core::Seconds(0);
}

}  // namespace joulepilot::act
