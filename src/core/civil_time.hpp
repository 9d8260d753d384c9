#pragma once
// Civil (proleptic Gregorian) dates and UTC timestamps without a time-zone database (GCC 12 has none),
// and human durations ("90s", "30m", "2h", "1d", plain seconds).

#include <cstdint>
#include <string_view>

#include "core/result.hpp"

namespace joulepilot::core {

// Days since 1970-01-01 of a civil date (month 1-12, day 1-31).
std::int64_t days_from_civil(int year, int month, int day);

// "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.fff]]" or "YYYY-MM-DDTHH:MM[:SS[.fff]][Z]", read as UTC -> Unix seconds.
Result<double> parse_utc_timestamp(std::string_view text);

// "3600", "3600s", "90m", "2h", "1d" -> seconds (> 0).
Result<double> parse_duration_s(std::string_view text);

}  // namespace joulepilot::core
