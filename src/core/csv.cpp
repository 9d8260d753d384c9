#include "core/csv.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace joulepilot::core {

std::vector<std::string> split_csv_line(std::string_view line) {
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.push_back(std::move(field));
            field.clear();
        } else if (c != '\r') {
            field += c;
        }
    }
    fields.push_back(std::move(field));
    return fields;
}

std::optional<double> parse_double(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    double value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
    return value;
}

std::optional<long long> parse_integer(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    long long value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
}

Result<CsvReader> CsvReader::open(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(path, ec);
        return fail(fmt::format("{}: cannot open ({})", path.string(),
                                exists ? "permission denied or not a file" : "no such file"));
    }
    return CsvReader(std::move(in), path.string());
}

bool CsvReader::next(std::vector<std::string>& fields) {
    while (std::getline(m_in, m_buffer)) {
        ++m_line;
        if (!m_buffer.empty() && m_buffer.back() == '\r') m_buffer.pop_back();
        if (m_buffer.empty()) continue;
        fields = split_csv_line(m_buffer);
        return true;
    }
    return false;
}

Error CsvReader::error(std::string_view what) const { return Error{fmt::format("{}:{}: {}", m_name, m_line, what)}; }

}  // namespace joulepilot::core
