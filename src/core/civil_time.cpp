#include "core/civil_time.hpp"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "core/csv.hpp"

namespace joulepilot::core {

std::int64_t days_from_civil(int year, int month, int day) {
    // The civil calendar repeats every 400 years (146097 days). Counting years from March makes the leap
    // day the last day of the year, so the day-of-year follows from the month by (153 * m + 2) / 5.
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t mp = (month + 9) % 12;
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

Result<double> parse_utc_timestamp(std::string_view text) {
    const std::string original(text);
    auto bad = [&original]() {
        return fail(fmt::format("'{}' is not a UTC time; expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", original));
    };
    if (text.size() < 10 || text[4] != '-' || text[7] != '-') return bad();
    const auto year = parse_integer(text.substr(0, 4));
    const auto month = parse_integer(text.substr(5, 2));
    const auto day = parse_integer(text.substr(8, 2));
    if (!year || !month || !day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return bad();
    double seconds = 0;
    std::string_view rest = text.substr(10);
    if (!rest.empty() && rest.back() == 'Z') rest.remove_suffix(1);
    if (!rest.empty()) {
        if (rest.front() != 'T' && rest.front() != ' ') return bad();
        rest.remove_prefix(1);
        if (rest.size() < 5 || rest[2] != ':') return bad();
        const auto hour = parse_integer(rest.substr(0, 2));
        const auto minute = parse_integer(rest.substr(3, 2));
        if (!hour || !minute || *hour > 23 || *minute > 59 || *hour < 0 || *minute < 0) return bad();
        seconds = static_cast<double>(*hour * 3600 + *minute * 60);
        if (rest.size() > 5) {
            if (rest[5] != ':') return bad();
            const auto sec = parse_double(rest.substr(6));
            if (!sec || *sec < 0 || *sec >= 61) return bad();
            seconds += *sec;
        }
    }
    return static_cast<double>(days_from_civil(static_cast<int>(*year), static_cast<int>(*month),
                                               static_cast<int>(*day))) *
               86400.0 +
           seconds;
}

Result<double> parse_duration_s(std::string_view text) {
    const std::string original(text);
    double unit = 1;
    if (!text.empty()) {
        switch (text.back()) {
            case 's':
                unit = 1;
                text.remove_suffix(1);
                break;
            case 'm':
                unit = 60;
                text.remove_suffix(1);
                break;
            case 'h':
                unit = 3600;
                text.remove_suffix(1);
                break;
            case 'd':
                unit = 86400;
                text.remove_suffix(1);
                break;
            default:
                break;
        }
    }
    const auto value = parse_double(text);
    if (!value || *value <= 0) {
        return fail(fmt::format("'{}' is not a duration; expected a positive number with s, m, h or d (e.g. 90m)",
                                original));
    }
    return *value * unit;
}

}  // namespace joulepilot::core
