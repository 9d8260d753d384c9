#pragma once
// Small text helpers for reading the "key : value" reports of the kernel and of tools
// (/proc/cpuinfo, ipmi-dcmi).

#include <string_view>

namespace joulepilot::core {

// Without leading and trailing spaces, tabs, carriage returns and newlines.
constexpr std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

// Calls fn(key, value) for every line of `text` holding a colon: key trimmed, value as written after the
// first colon (callers trim or parse it). Lines without a colon are skipped.
template <class Fn>
void for_each_key_value_line(std::string_view text, Fn&& fn) {
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t newline = text.find('\n', at);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
        const std::string_view line = text.substr(at, end - at);
        at = end + 1;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        fn(trim(line.substr(0, colon)), line.substr(colon + 1));
    }
}

}  // namespace joulepilot::core
