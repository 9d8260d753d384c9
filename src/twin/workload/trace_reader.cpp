#include "twin/workload/trace_reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/csv.hpp"

namespace joulepilot::twin {
namespace {

constexpr std::string_view kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";
constexpr std::string_view kJsonlExample = R"({"timestamp": <ms>, "input_length": n, "output_length": m})";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string_view strip_bom(std::string_view text) {
    if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
    return text;
}

// Same wording as core::CsvReader::open, so every reader reports a missing file alike.
tl::unexpected<core::Error> cannot_open(const std::filesystem::path& path) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    return core::fail(fmt::format("{}: cannot open ({})", path.string(),
                                  exists ? "permission denied or not a file" : "no such file"));
}

// Reads exactly `digits` decimal digits at `pos`; nullopt if any is not a digit.
std::optional<int> fixed_digits(std::string_view text, std::size_t pos, std::size_t digits) {
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + digits; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

// "YYYY-MM-DD HH:MM:SS[.f...]" (1 to 9 fractional digits, no time zone) as nanoseconds since
// 1970-01-01 of the same (unknown) zone. Integer nanoseconds keep the trace's 100 ns resolution: a double
// of seconds since 1970 would lose the last digit.
std::optional<std::int64_t> parse_timestamp_ns(std::string_view text) {
    text = trim(text);
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' || (text[10] != ' ' && text[10] != 'T') ||
        text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    const auto year = fixed_digits(text, 0, 4);
    const auto month = fixed_digits(text, 5, 2);
    const auto day = fixed_digits(text, 8, 2);
    const auto hour = fixed_digits(text, 11, 2);
    const auto minute = fixed_digits(text, 14, 2);
    const auto second = fixed_digits(text, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
    // Years from 1970 to 2199 keep nanoseconds and their differences inside 64 bits.
    if (*year < 1970 || *year > 2199 || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{*year},
                                           std::chrono::month{static_cast<unsigned>(*month)},
                                           std::chrono::day{static_cast<unsigned>(*day)}};
    if (!date.ok()) return std::nullopt;

    std::int64_t fraction_ns = 0;
    if (text.size() > 19) {
        const std::size_t digits = text.size() - 20;
        if (text[19] != '.' || digits == 0 || digits > 9) return std::nullopt;
        const auto fraction = fixed_digits(text, 20, digits);
        if (!fraction) return std::nullopt;
        fraction_ns = *fraction;
        for (std::size_t i = digits; i < 9; ++i) fraction_ns *= 10;
    }
    const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
    const std::int64_t seconds =
        days * 86400 + std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 + *second;
    return seconds * 1'000'000'000 + fraction_ns;
}

// One row before arrivals are made relative: a timestamp in the file's own unit (ns for CSV, ms for JSONL).
template <class Stamp>
struct RawRequest {
    Stamp stamp;
    int input_tokens;
    int output_tokens;
};

// Arrivals relative to the earliest request, sorted; rows out of order keep their file order on ties.
template <class Stamp>
Workload to_workload(std::vector<RawRequest<Stamp>>& rows, double seconds_per_unit) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.stamp < b.stamp; });
    Workload workload;
    workload.reserve(rows.size());
    const Stamp first = rows.front().stamp;
    for (const auto& row : rows) {
        const double offset = static_cast<double>(row.stamp - first) * seconds_per_unit;
        workload.push_back(RequestSpec{core::Seconds(offset), row.input_tokens, row.output_tokens});
    }
    return workload;
}

// Checks a token count read as a 64-bit integer; the error text says what was expected.
std::optional<std::string> check_tokens(std::string_view column, long long value, long long minimum) {
    if (value < minimum) {
        return fmt::format("{} must be >= {}{}, found {}", column, minimum,
                           minimum == 1 ? " (a request generates at least one token)" : "", value);
    }
    if (value > std::numeric_limits<int>::max()) {
        return fmt::format("{} must be <= {}, found {}", column, std::numeric_limits<int>::max(), value);
    }
    return std::nullopt;
}

}  // namespace

core::Result<Workload> read_azure_csv(const std::filesystem::path& path) {
    auto reader = core::CsvReader::open(path);
    if (!reader) return tl::unexpected(reader.error());

    std::vector<std::string> fields;
    if (!reader->next(fields)) {
        return core::fail(fmt::format("{}: empty file, expected the header {}", path.string(), kAzureHeader));
    }
    static constexpr std::array<std::string_view, 3> kColumns = {"TIMESTAMP", "ContextTokens",
                                                                 "GeneratedTokens"};
    bool header_ok = fields.size() == kColumns.size();
    for (std::size_t i = 0; header_ok && i < kColumns.size(); ++i) {
        const std::string_view name = i == 0 ? strip_bom(trim(fields[i])) : trim(fields[i]);
        header_ok = name == kColumns[i];
    }
    if (!header_ok) {
        std::string found;
        for (std::size_t i = 0; i < fields.size(); ++i) found += (i == 0 ? "" : ",") + fields[i];
        return tl::unexpected(
            reader->error(fmt::format("expected the header {}, found `{}`", kAzureHeader, found)));
    }

    std::vector<RawRequest<std::int64_t>> rows;
    while (reader->next(fields)) {
        if (fields.size() != kColumns.size()) {
            return tl::unexpected(
                reader->error(fmt::format("expected 3 fields ({}), found {}{}", kAzureHeader, fields.size(),
                                          fields.size() < kColumns.size() ? " (truncated row?)" : "")));
        }
        const auto stamp = parse_timestamp_ns(fields[0]);
        if (!stamp) {
            return tl::unexpected(reader->error(fmt::format(
                "expected a TIMESTAMP like `2023-11-16 18:15:46.6805900` (years 1970 to 2199), found `{}`",
                fields[0])));
        }
        const auto input = core::parse_integer(fields[1]);
        if (!input) {
            return tl::unexpected(
                reader->error(fmt::format("expected an integer ContextTokens, found `{}`", fields[1])));
        }
        const auto output = core::parse_integer(fields[2]);
        if (!output) {
            return tl::unexpected(
                reader->error(fmt::format("expected an integer GeneratedTokens, found `{}`", fields[2])));
        }
        if (auto problem = check_tokens("ContextTokens", *input, 0))
            return tl::unexpected(reader->error(*problem));
        if (auto problem = check_tokens("GeneratedTokens", *output, 1)) {
            return tl::unexpected(reader->error(*problem));
        }
        rows.push_back({*stamp, static_cast<int>(*input), static_cast<int>(*output)});
    }
    if (rows.empty()) {
        return core::fail(
            fmt::format("{}: no requests after the header, expected rows like "
                        "`2023-11-16 18:15:46.6805900,374,44`",
                        path.string()));
    }
    return to_workload(rows, 1e-9);
}

core::Result<Workload> read_jsonl(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return cannot_open(path);
    const std::string name = path.string();
    std::vector<RawRequest<double>> rows;
    std::string buffer;
    std::size_t line = 0;
    const auto error = [&](std::string_view what) {
        return core::fail(fmt::format("{}:{}: {}", name, line, what));
    };

    while (std::getline(in, buffer)) {
        ++line;
        const std::string_view text = trim(line == 1 ? strip_bom(buffer) : std::string_view(buffer));
        if (text.empty()) continue;

        nlohmann::json object;
        try {
            object = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            // e.byte is 1-based within the line; a truncated last line ends up here too.
            return error(fmt::format("malformed JSON at column {}, expected one object per line like {}",
                                     e.byte, kJsonlExample));
        } catch (const nlohmann::json::exception& e) {
            // Well-formed but unrepresentable, e.g. a number that overflows a double.
            return error(fmt::format("unreadable JSON ({}), expected one object per line like {}", e.what(),
                                     kJsonlExample));
        }
        if (!object.is_object()) {
            return error(
                fmt::format("expected a JSON object like {}, found {}", kJsonlExample, object.type_name()));
        }
        const auto stamp = object.find("timestamp");
        // |ms| < 1e15 (some 30,000 years) keeps differences of timestamps finite and meaningful.
        if (stamp == object.end() || !stamp->is_number() || !(std::abs(stamp->get<double>()) < 1e15)) {
            return error("expected \"timestamp\" as a number of milliseconds (absolute value below 1e15)");
        }
        std::array<long long, 2> tokens{};
        static constexpr std::array<std::string_view, 2> kTokenKeys = {"input_length", "output_length"};
        for (std::size_t i = 0; i < kTokenKeys.size(); ++i) {
            const auto field = object.find(kTokenKeys[i]);
            if (field == object.end())
                return error(fmt::format("missing \"{}\", expected an integer", kTokenKeys[i]));
            if (field->is_number_unsigned()) {
                const auto value = field->get<std::uint64_t>();
                tokens[i] = value > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())
                                ? std::numeric_limits<long long>::max()
                                : static_cast<long long>(value);
            } else if (field->is_number_integer()) {
                tokens[i] = field->get<long long>();
            } else {
                return error(
                    fmt::format("expected \"{}\" as an integer, found {}", kTokenKeys[i], field->dump()));
            }
            if (auto problem = check_tokens(kTokenKeys[i], tokens[i], i == 0 ? 0 : 1)) return error(*problem);
        }
        rows.push_back({stamp->get<double>(), static_cast<int>(tokens[0]), static_cast<int>(tokens[1])});
    }
    if (line == 0 || rows.empty()) {
        return core::fail(
            fmt::format("{}: empty file, expected one JSON object per line like {}", name, kJsonlExample));
    }
    return to_workload(rows, 1e-3);
}

core::Result<Workload> read_trace_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return cannot_open(path);
    std::string buffer;
    bool first = true;
    while (std::getline(in, buffer)) {
        std::string_view text = first ? strip_bom(buffer) : std::string_view(buffer);
        first = false;
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0)
            text.remove_prefix(1);
        if (text.empty()) continue;
        return text.front() == '{' ? read_jsonl(path) : read_azure_csv(path);
    }
    return core::fail(
        fmt::format("{}: empty file, expected an Azure LLM CSV trace (header {}) or JSONL lines like {}",
                    path.string(), kAzureHeader, kJsonlExample));
}

}  // namespace joulepilot::twin
