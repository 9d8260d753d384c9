#include "sense/energy_domain.hpp"

#include <string_view>

namespace joulepilot::sense {

std::optional<std::string> energy_domain_name(const SignalInfo& signal) {
    constexpr std::string_view kSuffix = "energy_joules_total";
    const std::string_view name = signal.name;
    if (signal.unit != "J" || !name.ends_with(kSuffix) || name.size() <= kSuffix.size() + 1)
        return std::nullopt;
    const std::string_view head = name.substr(0, name.size() - kSuffix.size());
    if (head.back() != '.' && head.back() != '_') return std::nullopt;
    return std::string(head.substr(0, head.size() - 1));
}

}  // namespace joulepilot::sense
