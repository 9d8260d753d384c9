#pragma once
// Reader of Open-Meteo hourly weather responses (JSON), re-indexed from local time labels to UTC hours.
//
// How the local labels are read. Open-Meteo writes `hourly.time` in the requested time zone but applies
// ONE offset, `utc_offset_seconds`, to the whole series: the offset valid when the request was made,
// with no DST switch inside the series (maintainer's statement in open-meteo/open-meteo#261 and #1255).
// The shipped 2023 files show it: every day has 24 labels, including 2023-03-12T02:00 in
// America/Los_Angeles, a wall-clock time that never existed, and no repeated 01:00 on 2023-11-05; and
// their offsets are the US daylight and EU standard ones (downloaded in late March). So:
//  - labels that step by exactly one hour throughout are fixed-offset labels: UTC = label -
//    utc_offset_seconds, and the offset must be the zone's standard or daylight offset;
//  - any other labels are read as true wall-clock time of the named zone, converted with its DST rules
//    (civil_time.hpp): the first pass through the repeated hour in autumn is the daylight instant, the
//    second the standard one; a label inside the hour skipped in spring is an error, as is any gap or
//    overlap left after conversion.
// Either way the result is one value per consecutive UTC hour, or an error naming the file and entry.

#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "twin/facility/civil_time.hpp"
#include "twin/facility/facility_model.hpp"

namespace joulepilot::twin {

enum class LocalLabels {
    fixed_offset,  // regular hourly labels shifted by utc_offset_seconds (what Open-Meteo writes)
    wall_clock,    // true local wall-clock time with DST gaps and repeats
};

struct WeatherSeries {
    HourlySeries temperature_c;  // outside air temperature at 2 m, degC, per UTC hour
    std::string timezone;        // IANA name from the file
    ZoneClock clock;
    LocalLabels labels = LocalLabels::fixed_offset;
};

core::Result<WeatherSeries> load_open_meteo_weather(const std::filesystem::path& path);

}  // namespace joulepilot::twin
