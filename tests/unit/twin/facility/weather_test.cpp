// load_open_meteo_weather (weather.cpp): fixed-offset labels (what Open-Meteo writes), true wall-clock
// labels across DST switches, the shipped files, and malformed input.

#include "twin/facility/weather.hpp"

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/twin/facility/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::filesystem::path kFixtures = test::fixtures_dir();

double utc(const char* text) { return static_cast<double>(parse_naive_datetime(text).value()); }

std::string load_error(const std::string& fixture) {
    const auto result = load_open_meteo_weather(kFixtures / fixture);
    EXPECT_FALSE(result.has_value()) << fixture << " loaded";
    return result ? std::string() : result.error().message;
}

TEST(Weather, FixedOffsetLabelsUseTheFileOffset) {
    // Regular labels through 2023-03-12T02:00 (a local time that never existed in Los Angeles): the file
    // applies one offset (PDT, -7 h) to every label.
    const auto weather = load_open_meteo_weather(kFixtures / "weather_fixed_offset_us.json");
    ASSERT_TRUE(weather.has_value()) << weather.error().message;
    EXPECT_EQ(weather->labels, LocalLabels::fixed_offset);
    EXPECT_EQ(weather->timezone, "America/Los_Angeles");
    const HourlySeries& t = weather->temperature_c;
    EXPECT_EQ(t.first_hour_unix_s(), utc("2023-03-12 07:00:00"));
    ASSERT_EQ(t.size(), 6U);
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-03-12 09:00:00"))), 12.0);  // label 02:00
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-03-12 10:30:00"))), 13.0);  // label 03:00
}

TEST(Weather, FixedOffsetMustBeAnOffsetOfTheZone) {
    EXPECT_THAT(load_error("weather_bad_offset.json"),
                AllOf(HasSubstr("weather_bad_offset.json"), HasSubstr("utc_offset_seconds -3600"),
                      HasSubstr("America/Los_Angeles")));
}

TEST(Weather, WallClockLabelsAcrossUsFallBack) {
    // New York, 2023-11-05: 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST, 03:00 EST = 04:00Z ... 08:00Z.
    const auto weather = load_open_meteo_weather(kFixtures / "weather_wall_clock_us_fall.json");
    ASSERT_TRUE(weather.has_value()) << weather.error().message;
    EXPECT_EQ(weather->labels, LocalLabels::wall_clock);
    const HourlySeries& t = weather->temperature_c;
    EXPECT_EQ(t.first_hour_unix_s(), utc("2023-11-05 04:00:00"));
    ASSERT_EQ(t.size(), 5U);
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-11-05 05:00:00"))), 4.0);  // first 01:00 (EDT)
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-11-05 06:00:00"))), 3.0);  // second 01:00 (EST)
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-11-05 08:00:00"))), 1.0);
}

TEST(Weather, WallClockLabelsAcrossEuSpringForward) {
    // Berlin, 2023-03-26: 00:00 CET, 01:00 CET, (02:00 skipped), 03:00 CEST = 23:00Z, 00:00Z, 01:00Z.
    const auto weather = load_open_meteo_weather(kFixtures / "weather_wall_clock_eu_spring.json");
    ASSERT_TRUE(weather.has_value()) << weather.error().message;
    EXPECT_EQ(weather->labels, LocalLabels::wall_clock);
    const HourlySeries& t = weather->temperature_c;
    EXPECT_EQ(t.first_hour_unix_s(), utc("2023-03-25 23:00:00"));
    ASSERT_EQ(t.size(), 4U);
    EXPECT_DOUBLE_EQ(t.at(core::Seconds(utc("2023-03-26 01:00:00"))), 3.0);
}

TEST(Weather, SkippedLocalHourIsAnError) {
    EXPECT_THAT(load_error("weather_nonexistent_hour.json"),
                AllOf(HasSubstr("weather_nonexistent_hour.json"), HasSubstr("hourly.time[1]"),
                      HasSubstr("2023-03-12 02:00:00 does not exist")));
}

TEST(Weather, MissingLocalHourIsAnError) {
    EXPECT_THAT(load_error("weather_missing_hour.json"),
                AllOf(HasSubstr("weather_missing_hour.json"), HasSubstr("hourly.time[2]"),
                      HasSubstr("gap or overlap")));
}

TEST(Weather, BrokenJsonNamesFileAndLine) {
    EXPECT_THAT(load_error("weather_broken.json"),
                AllOf(HasSubstr("weather_broken.json"), HasSubstr("invalid JSON"), HasSubstr("line")));
}

TEST(Weather, MalformedContent) {
    EXPECT_THAT(
        load_error("weather_null_value.json"),
        AllOf(HasSubstr("weather_null_value.json"), HasSubstr("temperature_2m[1]"), HasSubstr("null")));
    EXPECT_THAT(load_error("weather_length_mismatch.json"), HasSubstr("has 2 entries but"));
    EXPECT_THAT(load_error("weather_unknown_timezone.json"),
                HasSubstr("'Asia/Tokyo' has no known DST rules"));
    EXPECT_THAT(load_error("weather_kelvin.json"), HasSubstr("not a plausible outside temperature"));
    EXPECT_THAT(load_error("no_such_file.json"),
                AllOf(HasSubstr("no_such_file.json"), HasSubstr("no such file")));
}

TEST(Weather, ShippedFilesAreFixedOffsetYears) {
    // Each file's single offset (taken when it was downloaded, in late March): US daylight, EU standard.
    const struct {
        const char* zone;
        double first_hour;
        double first_value;
    } kCases[] = {
        {"US-CAL-CISO", utc("2023-01-01 07:00:00"), 10.5}, {"US-TEX-ERCO", utc("2023-01-01 05:00:00"), 16.9},
        {"US-MIDA-PJM", utc("2023-01-01 04:00:00"), 10.9}, {"DE-LU", utc("2022-12-31 23:00:00"), 12.9},
        {"GB", utc("2023-01-01 00:00:00"), 11.2},
    };
    for (const auto& c : kCases) {
        const auto weather = load_open_meteo_weather(weather_path(test::data_dir(), c.zone));
        ASSERT_TRUE(weather.has_value()) << weather.error().message;
        EXPECT_EQ(weather->labels, LocalLabels::fixed_offset) << c.zone;
        EXPECT_EQ(weather->temperature_c.size(), 8760U) << c.zone;
        EXPECT_EQ(weather->temperature_c.first_hour_unix_s(), c.first_hour) << c.zone;
        EXPECT_DOUBLE_EQ(weather->temperature_c.values().front(), c.first_value) << c.zone;
    }
}

TEST(Weather, ShippedDallasJulyIsWarmestInTheLocalAfternoon) {
    // A wrong sign or size of offset would move the daily maximum far from the afternoon.
    const auto weather = load_open_meteo_weather(weather_path(test::data_dir(), "US-TEX-ERCO"));
    ASSERT_TRUE(weather.has_value()) << weather.error().message;
    double sum_by_hour[24] = {};
    const double start = utc("2023-07-01 00:00:00");
    for (int h = 0; h < 31 * 24; ++h) {
        const double t = start + h * 3600.0;
        const auto local_hour = static_cast<int>(
            std::fmod(unix_to_local(weather->clock, static_cast<std::int64_t>(t)) / 3600.0, 24.0));
        sum_by_hour[local_hour] += weather->temperature_c.at(core::Seconds(t));
    }
    int warmest = 0;
    for (int h = 1; h < 24; ++h) {
        if (sum_by_hour[h] > sum_by_hour[warmest]) warmest = h;
    }
    EXPECT_GE(warmest, 13);
    EXPECT_LE(warmest, 18);
}

TEST(Weather, LoadOutsideTemperatureIsTheSeries) {
    const auto series = load_outside_temperature(kFixtures / "weather_fixed_offset_us.json");
    ASSERT_TRUE(series.has_value()) << series.error().message;
    EXPECT_EQ(series->size(), 6U);
    EXPECT_FALSE(load_outside_temperature(kFixtures / "weather_broken.json").has_value());
}

}  // namespace
}  // namespace joulepilot::twin
