#include "core/civil_time.hpp"

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

TEST(CivilTime, DaysFromCivilMatchesKnownDates) {
    EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(days_from_civil(2023, 1, 1), 19358);
    EXPECT_EQ(days_from_civil(2024, 2, 29) + 1, days_from_civil(2024, 3, 1));
}

TEST(CivilTime, ParsesUtcTimestamps) {
    EXPECT_EQ(parse_utc_timestamp("2023-01-01").value(), 1672531200.0);
    EXPECT_EQ(parse_utc_timestamp("2023-06-14T07:00:00Z").value(), 1686726000.0);
    EXPECT_DOUBLE_EQ(parse_utc_timestamp("2023-11-16 18:15:46.5").value(), 1700158546.5);
    EXPECT_FALSE(parse_utc_timestamp("2023-13-01"));
    EXPECT_FALSE(parse_utc_timestamp("yesterday"));
    EXPECT_FALSE(parse_utc_timestamp("2023-01-01T25:00"));
}

TEST(CivilTime, ParsesDurations) {
    EXPECT_EQ(parse_duration_s("3600").value(), 3600);
    EXPECT_EQ(parse_duration_s("90m").value(), 5400);
    EXPECT_EQ(parse_duration_s("2h").value(), 7200);
    EXPECT_EQ(parse_duration_s("1d").value(), 86400);
    EXPECT_FALSE(parse_duration_s("-5m"));
    EXPECT_FALSE(parse_duration_s("0"));
    EXPECT_FALSE(parse_duration_s("abc"));
    EXPECT_NE(parse_duration_s("abc").error().message.find("'abc'"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::core
