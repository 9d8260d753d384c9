#include "learn/observation_window.hpp"

#include <algorithm>

namespace joulepilot::learn {

void ObservationWindow::push(sense::Observation observation) {
    m_items.push_back(std::move(observation));
    while (m_items.size() > m_capacity) m_items.pop_front();
}

std::optional<double> ObservationWindow::latest(std::string_view signal) const {
    for (auto it = m_items.rbegin(); it != m_items.rend(); ++it) {
        if (auto v = it->get(signal)) return v;
    }
    return std::nullopt;
}

std::optional<double> ObservationWindow::mean(std::string_view signal, std::size_t count) const {
    if (m_items.empty()) return std::nullopt;
    const auto index = m_items.back().catalog().find(signal);
    if (!index) return std::nullopt;
    double sum = 0;
    std::size_t n = 0;
    const std::size_t first = m_items.size() > count ? m_items.size() - count : 0;
    for (std::size_t i = first; i < m_items.size(); ++i) {
        if (auto v = m_items[i].get(*index)) {
            sum += *v;
            ++n;
        }
    }
    if (n == 0) return std::nullopt;
    return sum / static_cast<double>(n);
}

std::optional<double> ObservationWindow::max(std::string_view signal, std::size_t count) const {
    if (m_items.empty()) return std::nullopt;
    const auto index = m_items.back().catalog().find(signal);
    if (!index) return std::nullopt;
    std::optional<double> best;
    const std::size_t first = m_items.size() > count ? m_items.size() - count : 0;
    for (std::size_t i = first; i < m_items.size(); ++i) {
        if (auto v = m_items[i].get(*index)) best = best ? std::max(*best, *v) : *v;
    }
    return best;
}

bool ObservationWindow::all_below(std::string_view signal, std::size_t count, double limit) const {
    if (m_items.size() < count || count == 0) return false;
    const auto index = m_items.back().catalog().find(signal);
    if (!index) return false;
    for (std::size_t i = m_items.size() - count; i < m_items.size(); ++i) {
        const auto v = m_items[i].get(*index);
        if (!v || *v >= limit) return false;
    }
    return true;
}

}  // namespace joulepilot::learn
