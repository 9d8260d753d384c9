#include "twin/facility/civil_time.hpp"

#include <array>

#include <fmt/format.h>

#include "core/civil_time.hpp"

namespace joulepilot::twin {

namespace {

// Division rounding towards minus infinity (C++ rounds towards zero), for instants before 1970.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

constexpr bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

constexpr int days_in_month(int year, int month) {
    constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

// Reads exactly `width` decimal digits at `pos`; nullopt when any is not a digit.
std::optional<int> read_digits(std::string_view text, std::size_t pos, std::size_t width) {
    if (pos + width > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        const char c = text[i];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

}  // namespace

std::int64_t days_from_civil(CivilDate date) { return core::days_from_civil(date.year, date.month, date.day); }

CivilDate civil_from_days(std::int64_t days) {
    const std::int64_t shifted = days + 719468;
    const std::int64_t era = floor_div(shifted, 146097);
    const std::int64_t day_of_era = shifted - era * 146097;  // [0, 146096]
    const std::int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;  // [0, 399]
    const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t month_from_march = (5 * day_of_year + 2) / 153;
    const auto day = static_cast<int>(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    const auto month = static_cast<int>(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
    const auto year = static_cast<int>(year_of_era + era * 400 + (month <= 2 ? 1 : 0));
    return CivilDate{year, month, day};
}

int weekday_from_days(std::int64_t days) {
    // 1970-01-01 was a Thursday (4).
    const std::int64_t weekday = (days + 4) % 7;
    return static_cast<int>(weekday < 0 ? weekday + 7 : weekday);
}

std::int64_t nth_sunday(int year, int month, int n) {
    const std::int64_t first = days_from_civil(CivilDate{year, month, 1});
    const int to_sunday = (7 - weekday_from_days(first)) % 7;
    return first + to_sunday + 7 * std::int64_t{n - 1};
}

std::int64_t last_sunday(int year, int month) {
    const std::int64_t last = days_from_civil(CivilDate{year, month, days_in_month(year, month)});
    return last - weekday_from_days(last);
}

std::optional<std::int64_t> parse_naive_datetime(std::string_view text) {
    // YYYY-MM-DD?HH:MM[:SS], ? being ' ' or 'T'.
    if (text.size() != 16 && text.size() != 19) return std::nullopt;
    if (text[4] != '-' || text[7] != '-' || (text[10] != ' ' && text[10] != 'T') || text[13] != ':') {
        return std::nullopt;
    }
    const auto year = read_digits(text, 0, 4);
    const auto month = read_digits(text, 5, 2);
    const auto day = read_digits(text, 8, 2);
    const auto hour = read_digits(text, 11, 2);
    const auto minute = read_digits(text, 14, 2);
    std::optional<int> second = 0;
    if (text.size() == 19) {
        if (text[16] != ':') return std::nullopt;
        second = read_digits(text, 17, 2);
    }
    if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
    if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23 ||
        *minute > 59 || *second > 59) {
        return std::nullopt;
    }
    return days_from_civil(CivilDate{*year, *month, *day}) * kSecondsPerDay + *hour * kSecondsPerHour +
           std::int64_t{*minute} * 60 + *second;
}

std::string format_naive_datetime(std::int64_t seconds) {
    const std::int64_t days = floor_div(seconds, kSecondsPerDay);
    const std::int64_t in_day = seconds - days * kSecondsPerDay;
    const CivilDate date = civil_from_days(days);
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", date.year, date.month, date.day,
                       in_day / kSecondsPerHour, in_day % kSecondsPerHour / 60, in_day % 60);
}

std::optional<ZoneClock> zone_clock_for_iana(std::string_view iana_name) {
    if (iana_name == "America/Los_Angeles") return ZoneClock{-8 * kSecondsPerHour, DstRule::us};
    if (iana_name == "America/Chicago") return ZoneClock{-6 * kSecondsPerHour, DstRule::us};
    if (iana_name == "America/New_York") return ZoneClock{-5 * kSecondsPerHour, DstRule::us};
    if (iana_name == "Europe/Berlin") return ZoneClock{1 * kSecondsPerHour, DstRule::eu};
    if (iana_name == "Europe/London") return ZoneClock{0, DstRule::eu};
    if (iana_name == "UTC" || iana_name == "GMT") return ZoneClock{0, DstRule::none};
    return std::nullopt;
}

std::optional<DstWindow> dst_window(const ZoneClock& clock, int year) {
    switch (clock.dst) {
        case DstRule::none:
            return std::nullopt;
        case DstRule::us: {
            // 02:00 local standard time on the way in; 02:00 local daylight time (01:00 standard) out.
            const std::int64_t start_local = nth_sunday(year, 3, 2) * kSecondsPerDay + 2 * kSecondsPerHour;
            const std::int64_t end_local = nth_sunday(year, 11, 1) * kSecondsPerDay + 2 * kSecondsPerHour;
            return DstWindow{start_local - clock.standard_offset_s,
                             end_local - (clock.standard_offset_s + kSecondsPerHour)};
        }
        case DstRule::eu:
            return DstWindow{last_sunday(year, 3) * kSecondsPerDay + 1 * kSecondsPerHour,
                             last_sunday(year, 10) * kSecondsPerDay + 1 * kSecondsPerHour};
    }
    return std::nullopt;
}

std::int64_t utc_offset_s(const ZoneClock& clock, std::int64_t unix_s) {
    // The UTC year is the right one: both rules switch months away from new year.
    const int year = civil_from_days(floor_div(unix_s, kSecondsPerDay)).year;
    const auto window = dst_window(clock, year);
    const bool daylight = window && unix_s >= window->start_unix_s && unix_s < window->end_unix_s;
    return clock.standard_offset_s + (daylight ? kSecondsPerHour : 0);
}

std::int64_t unix_to_local(const ZoneClock& clock, std::int64_t unix_s) {
    return unix_s + utc_offset_s(clock, unix_s);
}

std::optional<std::int64_t> local_to_unix(const ZoneClock& clock, std::int64_t local_s,
                                          RepeatedHour repeated) {
    // A local time is the image of at most two instants, one per offset; keep those that map back.
    const std::int64_t as_standard = local_s - clock.standard_offset_s;
    const std::int64_t as_daylight = local_s - (clock.standard_offset_s + kSecondsPerHour);
    const bool standard_ok =
        clock.dst == DstRule::none || utc_offset_s(clock, as_standard) == clock.standard_offset_s;
    const bool daylight_ok = clock.dst != DstRule::none &&
                             utc_offset_s(clock, as_daylight) == clock.standard_offset_s + kSecondsPerHour;
    if (standard_ok && daylight_ok) return repeated == RepeatedHour::earlier ? as_daylight : as_standard;
    if (standard_ok) return as_standard;
    if (daylight_ok) return as_daylight;
    return std::nullopt;  // the hour skipped when the clock goes forward
}

}  // namespace joulepilot::twin
