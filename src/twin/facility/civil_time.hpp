#pragma once
// Civil (proleptic Gregorian) date arithmetic and the two daylight-saving rule sets the shipped zones use.
// GCC 12's libstdc++ has no chrono time-zone database, and the facility model needs only five zones, so
// the rules are written out here instead of reading tzdata:
//  - US (since 2007): daylight time from the second Sunday of March, 02:00 local standard time, to the
//    first Sunday of November, 02:00 local daylight time.
//  - EU (since 1996): summer time from the last Sunday of March, 01:00 UTC, to the last Sunday of
//    October, 01:00 UTC (the same instant in every EU zone, and in the UK).
// Both shift the clock by one hour. Historical rule changes (US before 2007, EU before 1996) are not
// modelled: the data are from 2023.
//
// Times are int64 seconds: "Unix" means seconds since 1970-01-01T00:00Z; "local" means the wall clock
// written as if it were UTC (seconds since 1970-01-01T00:00 local), which is what a naive timestamp
// such as "2023-03-12T02:00" parses to. All functions are pure and thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace joulepilot::twin {

inline constexpr std::int64_t kSecondsPerHour = 3600;
inline constexpr std::int64_t kSecondsPerDay = 86400;

struct CivilDate {
    int year = 1970;
    int month = 1;  // 1-12
    int day = 1;    // 1-31
    friend bool operator==(const CivilDate&, const CivilDate&) = default;
};

// Days since 1970-01-01 of a civil date, and back (valid for any date a 32-bit year can hold).
std::int64_t days_from_civil(CivilDate date);
CivilDate civil_from_days(std::int64_t days);
// 0 = Sunday ... 6 = Saturday.
int weekday_from_days(std::int64_t days);

// Days since the epoch of the n-th (1-based) Sunday of a month, and of its last Sunday.
std::int64_t nth_sunday(int year, int month, int n);
std::int64_t last_sunday(int year, int month);

// Parses "YYYY-MM-DD HH:MM[:SS]" or "YYYY-MM-DDTHH:MM[:SS]" (no zone suffix) into seconds since the
// epoch of the same clock (see the header comment); nullopt for anything else, including out-of-range
// fields such as month 13 or 24:00.
std::optional<std::int64_t> parse_naive_datetime(std::string_view text);
// "YYYY-MM-DD HH:MM:SS" of seconds since the epoch, for messages and tests.
std::string format_naive_datetime(std::int64_t seconds);

enum class DstRule { none, us, eu };

// The clock of one place: standard offset from UTC and its daylight-saving rule.
struct ZoneClock {
    std::int64_t standard_offset_s = 0;  // local standard time minus UTC (e.g. -8 h for Pacific)
    DstRule dst = DstRule::none;
};

// The clocks of the IANA zones the shipped weather files name (America/Los_Angeles, America/Chicago,
// America/New_York, Europe/Berlin, Europe/London, and UTC); nullopt for any other name.
std::optional<ZoneClock> zone_clock_for_iana(std::string_view iana_name);

// [start, end) of daylight time in `year`, as Unix seconds; nullopt for DstRule::none.
struct DstWindow {
    std::int64_t start_unix_s = 0;
    std::int64_t end_unix_s = 0;
};
std::optional<DstWindow> dst_window(const ZoneClock& clock, int year);

// Local time minus UTC at the instant `unix_s` (standard offset, plus one hour inside daylight time).
std::int64_t utc_offset_s(const ZoneClock& clock, std::int64_t unix_s);
// Local wall-clock seconds (see the header comment) at the instant `unix_s`.
std::int64_t unix_to_local(const ZoneClock& clock, std::int64_t unix_s);

// Which instant a repeated local time (the hour the clock goes back over) means.
enum class RepeatedHour {
    earlier,  // the first pass, still in daylight time
    later,    // the second pass, back in standard time
};

// The instant a local wall-clock time names. When the clock goes forward the skipped local hour names
// no instant: nullopt. When the clock goes back the repeated hour names two instants: `repeated` picks.
std::optional<std::int64_t> local_to_unix(const ZoneClock& clock, std::int64_t local_s,
                                          RepeatedHour repeated = RepeatedHour::earlier);

}  // namespace joulepilot::twin
