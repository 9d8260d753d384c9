// Site readers (site.cpp): TOML and JSON, the shipped zones' data, own carbon and price CSVs, and errors
// naming file, line and field; gaps and overlaps in a carbon series are input errors.

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/site.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::data_dir;
using test::fixtures_dir;
using test::kHour;
using test::kJune1;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string error_of(const core::Result<SiteSet>& result) {
    EXPECT_FALSE(result.has_value());
    return result ? std::string() : result.error().message;
}

TEST(SiteReader, ReadsTomlWithZonesTariffsAndOwnCsvs) {
    const auto set = read_sites(fixtures_dir() / "sites_ok.toml", data_dir());
    ASSERT_TRUE(set.has_value()) << set.error().message;
    EXPECT_DOUBLE_EQ(set->weights.carbon_price_usd_per_t, 100);
    EXPECT_DOUBLE_EQ(set->weights.lateness_usd_per_h, 5);
    ASSERT_EQ(set->sites.size(), 3U);

    const Site& fra = set->sites[0];
    EXPECT_EQ(fra.name, "frankfurt");
    EXPECT_EQ(fra.gpu_capacity, 64);
    EXPECT_FALSE(fra.constant_pue.has_value());
    EXPECT_EQ(fra.carbon_g_per_kwh.size(), 8760U);
    // 2023-06-01 10:00 UTC is 12:00 in Berlin (summer time): peak. 02:00 UTC is 04:00: off-peak.
    EXPECT_DOUBLE_EQ(fra.price_at(kJune1 + 10 * kHour), 0.30);
    EXPECT_DOUBLE_EQ(fra.price_at(kJune1 + 2 * kHour), 0.10);
    // PUE from the outside temperature at 80% load: at least the model's floor, above 1.
    const double pue = fra.pue_at(kJune1 + 12 * kHour);
    EXPECT_GT(pue, 1.13);
    EXPECT_LT(pue, 1.5);
    EXPECT_TRUE(fra.covers(kJune1));
    EXPECT_FALSE(fra.covers(1704067200));  // 2024-01-01: no data

    const Site& lab = set->sites[2];
    EXPECT_EQ(lab.gpu_capacity, 8);
    EXPECT_DOUBLE_EQ(*lab.constant_pue, 1.0);  // defaulted, and said so
    EXPECT_FALSE(set->notes.empty());
    EXPECT_DOUBLE_EQ(lab.carbon_at(kJune1 + 3 * kHour), 130);
    EXPECT_DOUBLE_EQ(lab.price_at(kJune1 + 3 * kHour), 0.13);
    EXPECT_TRUE(lab.covers(kJune1 + 11 * kHour));
    EXPECT_FALSE(lab.covers(kJune1 + 12 * kHour));

    // The data files read, for `schedule run --jobs --sites` to re-plan when one changes.
    const auto named = [&](const std::string& file) {
        return std::any_of(set->input_files.begin(), set->input_files.end(),
                           [&](const std::filesystem::path& p) { return p.filename() == file; });
    };
    EXPECT_TRUE(named("carbon_small.csv"));
    EXPECT_TRUE(named("prices_small.csv"));
    EXPECT_TRUE(named("DE-LU_2023_hourly.csv"));
}

TEST(SiteReader, TomlErrorNamesLineAndField) {
    EXPECT_THAT(error_of(read_sites(fixtures_dir() / "sites_bad_gpus.toml", data_dir())),
                AllOf(HasSubstr("sites_bad_gpus.toml:5"), HasSubstr("sites[0].gpus")));
}

TEST(SiteReader, JsonUnknownKey) {
    EXPECT_THAT(
        error_of(read_sites(fixtures_dir() / "sites_unknown_key.json", data_dir())),
        AllOf(HasSubstr("sites_unknown_key.json"), HasSubstr("sites[0].colour"), HasSubstr("unknown key")));
}

TEST(SiteReader, MissingHourInCarbonSeriesNamesFileAndLine) {
    EXPECT_THAT(error_of(read_sites(fixtures_dir() / "sites_gap.json", data_dir())),
                AllOf(HasSubstr("site 'gappy'"), HasSubstr("carbon_gap.csv:4"), HasSubstr("missing hour")));
}

TEST(SiteReader, RepeatedHourInCarbonSeriesNamesFileAndLine) {
    EXPECT_THAT(error_of(read_sites(fixtures_dir() / "sites_overlap.json", data_dir())),
                AllOf(HasSubstr("carbon_overlap.csv:4"), HasSubstr("repeats")));
}

TEST(SiteReader, UnknownZoneListsShippedOnes) {
    const char* text = R"({"sites": [{"name": "x", "gpus": 4, "zone": "FR"}]})";
    EXPECT_THAT(error_of(parse_sites(text, false, "s.json", fixtures_dir(), data_dir())),
                AllOf(HasSubstr("sites[0].zone"), HasSubstr("'FR'"), HasSubstr("DE-LU")));
}

TEST(SiteReader, OnePriceKindOnly) {
    const char* text = R"({"sites": [{"name": "x", "gpus": 4, "zone": "GB", "price_usd_per_kwh": 0.1,
                                      "price_csv": "prices_small.csv"}]})";
    EXPECT_THAT(error_of(parse_sites(text, false, "s.json", fixtures_dir(), data_dir())),
                HasSubstr("only one of"));
}

TEST(SiteReader, TomlSyntaxErrorHasLine) {
    EXPECT_THAT(error_of(parse_sites("[[sites]]\nname = \n", true, "s.toml", fixtures_dir(), data_dir())),
                HasSubstr("s.toml:2"));
}

TEST(SiteReader, NeedsSomeSites) {
    EXPECT_THAT(error_of(parse_sites(R"({"objective": {}})", false, "s.json", fixtures_dir(), data_dir())),
                HasSubstr("at least one site"));
}

TEST(HourlyCsv, RejectsGap) {
    const auto series = read_hourly_csv(fixtures_dir() / "carbon_gap.csv", "Datetime (UTC)",
                                        "Carbon Intensity gCO\xe2\x82\x82"
                                        "eq/kWh (direct)");
    ASSERT_FALSE(series.has_value());
    EXPECT_THAT(series.error().message, AllOf(HasSubstr("carbon_gap.csv:4"), HasSubstr("missing hour")));
}

}  // namespace
}  // namespace joulepilot::sched
