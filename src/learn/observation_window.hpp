#pragma once
// The recent past the policies see: the last N observations (oldest first) with helpers that skip
// missing samples. Owned by the loop thread.

#include <cstddef>
#include <deque>
#include <optional>
#include <string_view>

#include "sense/observation.hpp"

namespace joulepilot::learn {

class ObservationWindow {
public:
    explicit ObservationWindow(std::size_t capacity) : m_capacity(capacity == 0 ? 1 : capacity) {}

    void push(sense::Observation observation);
    [[nodiscard]] bool empty() const { return m_items.empty(); }
    [[nodiscard]] std::size_t size() const { return m_items.size(); }
    [[nodiscard]] const sense::Observation& latest() const { return m_items.back(); }
    // i = 0 is the oldest kept.
    [[nodiscard]] const sense::Observation& at(std::size_t i) const { return m_items[i]; }

    // Latest valid value of a signal, if any.
    [[nodiscard]] std::optional<double> latest(std::string_view signal) const;
    // Mean of the valid values of a signal over the last `count` observations (nullopt if none valid).
    [[nodiscard]] std::optional<double> mean(std::string_view signal, std::size_t count) const;
    // Largest valid value over the last `count` observations.
    [[nodiscard]] std::optional<double> max(std::string_view signal, std::size_t count) const;
    // True when the last `count` observations all hold a valid value below `limit`.
    [[nodiscard]] bool all_below(std::string_view signal, std::size_t count, double limit) const;

private:
    std::size_t m_capacity;
    std::deque<sense::Observation> m_items;
};

}  // namespace joulepilot::learn
