// load_carbon_intensity_csv (grid_series.cpp): good files, and every malformed fixture is an error that
// names the file and the line.

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "twin/facility/facility_model.hpp"
#include "unit/twin/facility/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using test::data_dir;

const std::filesystem::path kFixtures = test::fixtures_dir();

constexpr double kJan1 = 1672531200;  // 2023-01-01T00:00Z

std::string load_error(const std::string& fixture) {
    const auto result = load_carbon_intensity_csv(kFixtures / fixture);
    EXPECT_FALSE(result.has_value()) << fixture << " loaded";
    return result ? std::string() : result.error().message;
}

TEST(GridSeries, LoadsFixture) {
    const auto series = load_carbon_intensity_csv(kFixtures / "carbon_ok.csv");
    ASSERT_TRUE(series.has_value()) << series.error().message;
    EXPECT_EQ(series->first_hour_unix_s(), kJan1);
    ASSERT_EQ(series->size(), 5U);
    EXPECT_DOUBLE_EQ(series->values()[0], 238.69);
    EXPECT_DOUBLE_EQ(series->values()[2], 210.5);  // quoted field
    EXPECT_DOUBLE_EQ(series->at(core::Seconds(kJan1 + 3 * 3600 + 59)), 205.0);
}

TEST(GridSeries, LoadsShippedCaisoYear) {
    const auto series =
        load_carbon_intensity_csv(data_dir() / "electricitymaps-hourly-2023/US-CAL-CISO_2023_hourly.csv");
    ASSERT_TRUE(series.has_value()) << series.error().message;
    EXPECT_EQ(series->size(), 8760U);
    EXPECT_EQ(series->first_hour_unix_s(), kJan1);
    EXPECT_DOUBLE_EQ(series->at(core::Seconds(kJan1)), 238.69);
    EXPECT_DOUBLE_EQ(series->at(core::Seconds(kJan1 + 3599)), 238.69);
    EXPECT_DOUBLE_EQ(series->at(core::Seconds(kJan1 + 3600)), 220.25);
    EXPECT_DOUBLE_EQ(series->at(core::Seconds(kJan1 + 8759 * 3600.0)), 243.22);  // 2023-12-31 23:00
    // README: min 54, max 332 gCO2/kWh.
    for (const double value : series->values()) {
        EXPECT_GE(value, 50.0);
        EXPECT_LE(value, 335.0);
    }
}

TEST(GridSeries, LoadsEveryShippedZone) {
    for (const auto& zone : known_zones()) {
        const auto series = load_carbon_intensity_csv(carbon_intensity_path(data_dir(), zone));
        ASSERT_TRUE(series.has_value()) << series.error().message;
        EXPECT_EQ(series->size(), 8760U) << zone;
        EXPECT_EQ(series->first_hour_unix_s(), kJan1) << zone;
    }
}

TEST(GridSeries, TruncatedRowNamesFileAndLine) {
    EXPECT_THAT(load_error("carbon_truncated.csv"),
                AllOf(HasSubstr("carbon_truncated.csv:5:"), HasSubstr("expected 11 fields, found 5")));
}

TEST(GridSeries, NonNumericIntensity) {
    EXPECT_THAT(load_error("carbon_non_numeric.csv"),
                AllOf(HasSubstr("carbon_non_numeric.csv:3:"), HasSubstr("'n/a'"),
                      HasSubstr("is not a number"), HasSubstr("(direct)")));
}

TEST(GridSeries, MissingHourIsReportedNotFilled) {
    EXPECT_THAT(load_error("carbon_missing_hour.csv"), AllOf(HasSubstr("carbon_missing_hour.csv:4:"),
                                                             HasSubstr("missing hour 2023-01-01 02:00:00")));
}

TEST(GridSeries, RepeatedHourIsReported) {
    EXPECT_THAT(load_error("carbon_repeated_hour.csv"),
                AllOf(HasSubstr("carbon_repeated_hour.csv:4:"), HasSubstr("repeats or goes back")));
}

TEST(GridSeries, MissingColumn) {
    EXPECT_THAT(
        load_error("carbon_missing_column.csv"),
        AllOf(HasSubstr("carbon_missing_column.csv:1:"), HasSubstr("missing column"), HasSubstr("(direct)")));
}

TEST(GridSeries, EmptyAndHeaderOnlyFiles) {
    EXPECT_THAT(load_error("carbon_empty.csv"),
                AllOf(HasSubstr("carbon_empty.csv"), HasSubstr("empty file")));
    EXPECT_THAT(load_error("carbon_header_only.csv"),
                AllOf(HasSubstr("carbon_header_only.csv"), HasSubstr("no data rows")));
}

TEST(GridSeries, BadTimesAndValues) {
    EXPECT_THAT(load_error("carbon_not_on_hour.csv"),
                AllOf(HasSubstr("carbon_not_on_hour.csv:3:"), HasSubstr("not on the hour")));
    EXPECT_THAT(load_error("carbon_bad_time.csv"),
                AllOf(HasSubstr("carbon_bad_time.csv:3:"), HasSubstr("'2023-01-01T25:00'")));
    EXPECT_THAT(load_error("carbon_negative.csv"),
                AllOf(HasSubstr("carbon_negative.csv:2:"), HasSubstr("negative")));
}

TEST(GridSeries, MissingFile) {
    EXPECT_THAT(load_error("no_such_file.csv"),
                AllOf(HasSubstr("no_such_file.csv"), HasSubstr("no such file")));
}

}  // namespace
}  // namespace joulepilot::twin
