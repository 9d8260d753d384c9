#include "sense/observation.hpp"

namespace joulepilot::sense {

std::string_view to_string(Provenance p) {
    switch (p) {
        case Provenance::measured:
            return "measured";
        case Provenance::derived:
            return "derived";
        case Provenance::estimated:
            return "estimated";
    }
    return "unknown";
}

std::size_t SignalCatalog::add(SignalInfo info) {
    const std::size_t index = m_signals.size();
    m_index.emplace(info.name, index);
    m_signals.push_back(std::move(info));
    return index;
}

std::optional<std::size_t> SignalCatalog::find(std::string_view name) const {
    const auto it = m_index.find(std::string(name));
    if (it == m_index.end()) return std::nullopt;
    return it->second;
}

std::optional<double> Observation::get(std::string_view name) const {
    if (!m_catalog) return std::nullopt;
    const auto index = m_catalog->find(name);
    if (!index) return std::nullopt;
    return get(*index);
}

}  // namespace joulepilot::sense
