#include "twin/facility/facility_model.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "unit/twin/facility/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

core::Seconds utc(const char* text) {
    return core::Seconds(static_cast<double>(parse_naive_datetime(text).value()));
}

FacilityModel load_zone(const std::string& zone) {
    auto model = FacilityModel::load(test::data_dir(), zone, PueModel{}, Tariff{});
    if (!model) throw std::runtime_error(model.error().message);
    return std::move(*model);
}

TEST(HourlySeries, LooksUpTheHourContainingTheTimeAndClamps) {
    const HourlySeries series(3600.0, {1.0, 2.0, 3.0});
    EXPECT_EQ(series.at(core::Seconds(3600)), 1.0);
    EXPECT_EQ(series.at(core::Seconds(7199.9)), 1.0);
    EXPECT_EQ(series.at(core::Seconds(7200)), 2.0);
    EXPECT_EQ(series.at(core::Seconds(3 * 3600 + 1800)), 3.0);
    EXPECT_EQ(series.at(core::Seconds(0)), 1.0);  // before the range
    EXPECT_EQ(series.at(core::Seconds(-1e300)), 1.0);
    EXPECT_EQ(series.at(core::Seconds(1e9)), 3.0);  // after it
    EXPECT_EQ(series.at(core::Seconds(INFINITY)), 3.0);
    EXPECT_TRUE(std::isnan(series.at(core::Seconds(NAN))));
    EXPECT_TRUE(std::isnan(HourlySeries().at(core::Seconds(0))));
}

TEST(PueModel, StatedValues) {
    const PueModel pue;
    EXPECT_NEAR(pue.pue(20.0, 1.0), 1.0 + 0.03 + 0.10 + 0.006 * 2.0, 1e-12);
    EXPECT_NEAR(pue.pue(10.0, 0.5), 1.0 + 0.06 + 0.10, 1e-12);  // free cooling: no temperature term
    EXPECT_NEAR(pue.pue(35.0, 1.0), 1.232, 1e-12);
    // Below the minimum load the fixed overhead stops growing; above capacity it counts as full load.
    EXPECT_DOUBLE_EQ(pue.pue(20.0, 0.01), pue.pue(20.0, 0.1));
    EXPECT_DOUBLE_EQ(pue.pue(20.0, 0.0), pue.pue(20.0, 0.1));
    EXPECT_DOUBLE_EQ(pue.pue(20.0, 1.5), pue.pue(20.0, 1.0));
    EXPECT_NEAR(pue.pue(20.0, 0.1), 1.412, 1e-12);
}

TEST(PueModel, RisesWithTemperatureAboveFreeCooling) {
    const PueModel pue;
    EXPECT_DOUBLE_EQ(pue.pue(-10.0, 0.6), pue.pue(18.0, 0.6));
    EXPECT_LT(pue.pue(18.0, 0.6), pue.pue(25.0, 0.6));
    EXPECT_LT(pue.pue(25.0, 0.6), pue.pue(40.0, 0.6));
}

RC_GTEST_PROP(PueModel, MonotonicInTemperatureAndFallingWithLoad, ()) {
    const PueModel pue;
    const double t1 = *rc::gen::inRange(-400, 500) / 10.0;
    const double t2 = t1 + *rc::gen::inRange(0, 300) / 10.0;
    const double load1 = *rc::gen::inRange(0, 1200) / 1000.0;
    const double load2 = load1 + *rc::gen::inRange(0, 1000) / 1000.0;
    RC_ASSERT(pue.pue(t1, load1) <= pue.pue(t2, load1));
    RC_ASSERT(pue.pue(t1, load2) <= pue.pue(t1, load1));
    RC_ASSERT(pue.pue(t1, load1) > 1.0);
}

TEST(Tariff, PeakWindowIsHalfOpen) {
    const Tariff tariff;
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(15), 0.14);
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(16), 0.32);
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(20), 0.32);
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(21), 0.14);
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(0), 0.14);
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(40), 0.32);  // 40 mod 24 = 16
    EXPECT_DOUBLE_EQ(tariff.price_usd_per_kwh(-4), 0.32);  // -4 mod 24 = 20
}

TEST(Tariff, WindowThroughMidnightAndEmptyWindow) {
    Tariff night;
    night.peak_start_hour = 22;
    night.peak_end_hour = 6;
    EXPECT_DOUBLE_EQ(night.price_usd_per_kwh(23), night.peak_usd_per_kwh);
    EXPECT_DOUBLE_EQ(night.price_usd_per_kwh(0), night.peak_usd_per_kwh);
    EXPECT_DOUBLE_EQ(night.price_usd_per_kwh(5), night.peak_usd_per_kwh);
    EXPECT_DOUBLE_EQ(night.price_usd_per_kwh(6), night.offpeak_usd_per_kwh);
    EXPECT_DOUBLE_EQ(night.price_usd_per_kwh(21), night.offpeak_usd_per_kwh);
    Tariff flat;
    flat.peak_start_hour = flat.peak_end_hour = 7;
    for (int h = 0; h < 24; ++h) EXPECT_DOUBLE_EQ(flat.price_usd_per_kwh(h), flat.offpeak_usd_per_kwh);
}

TEST(FacilityModel, KnownZones) {
    EXPECT_EQ(known_zones(),
              (std::vector<std::string>{"US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "DE-LU", "GB"}));
    EXPECT_EQ(carbon_intensity_path("/d", "GB"), "/d/electricitymaps-hourly-2023/GB_2023_hourly.csv");
    EXPECT_EQ(weather_path("/d", "GB"), "/d/open-meteo-weather-2023/GB_2023.json");
}

TEST(FacilityModel, UnknownZoneListsTheKnownOnes) {
    const auto model = FacilityModel::load(test::data_dir(), "FR", PueModel{}, Tariff{});
    ASSERT_FALSE(model.has_value());
    EXPECT_THAT(model.error().message, AllOf(HasSubstr("unknown zone 'FR'"),
                                             HasSubstr("US-CAL-CISO, US-TEX-ERCO, US-MIDA-PJM, DE-LU, GB")));
}

TEST(FacilityModel, MissingDataDirNamesTheFile) {
    const auto model = FacilityModel::load("/nonexistent-joulepilot-data", "GB", PueModel{}, Tariff{});
    ASSERT_FALSE(model.has_value());
    EXPECT_THAT(model.error().message, AllOf(HasSubstr("GB_2023_hourly.csv"), HasSubstr("no such file")));
}

TEST(FacilityModel, WeatherOfAnotherPlaceIsRejected) {
    const auto model = FacilityModel::load(test::fixtures_dir() / "datadir_mismatch", "US-CAL-CISO", {}, {});
    ASSERT_FALSE(model.has_value());
    EXPECT_THAT(model.error().message,
                AllOf(HasSubstr("US-CAL-CISO_2023.json"), HasSubstr("'Europe/Berlin' does not match"),
                      HasSubstr("America/Los_Angeles")));
}

TEST(FacilityModel, LoadsEveryShippedZone) {
    for (const auto& zone : known_zones()) {
        const auto model = FacilityModel::load(test::data_dir(), zone, PueModel{}, Tariff{});
        ASSERT_TRUE(model.has_value()) << model.error().message;
        EXPECT_EQ(model->zone(), zone);
        const core::Seconds noon_july = utc("2023-07-15 12:00:00");
        EXPECT_GT(model->carbon_g_per_kwh(noon_july), 0.0) << zone;
        EXPECT_GT(model->outside_temp_c(noon_july), 0.0) << zone;  // no zone is below freezing in July
        const double pue = model->pue(noon_july, 0.7);
        EXPECT_GT(pue, 1.0) << zone;
        EXPECT_LT(pue, 1.5) << zone;
    }
}

TEST(FacilityModel, CaisoLookups) {
    const FacilityModel model = load_zone("US-CAL-CISO");
    EXPECT_DOUBLE_EQ(model.carbon_g_per_kwh(utc("2023-01-01 00:00:00")), 238.69);
    EXPECT_DOUBLE_EQ(model.carbon_g_per_kwh(utc("2023-01-01 01:30:00")), 220.25);
    // The weather file's first label, 2023-01-01T00:00 at a fixed -7 h, is 07:00Z.
    EXPECT_DOUBLE_EQ(model.outside_temp_c(utc("2023-01-01 07:00:00")), 10.5);
    EXPECT_DOUBLE_EQ(model.outside_temp_c(utc("2023-01-01 08:00:00")), 9.3);
    const core::Seconds t = utc("2023-08-10 22:00:00");
    EXPECT_DOUBLE_EQ(model.pue(t, 0.4), PueModel{}.pue(model.outside_temp_c(t), 0.4));
}

TEST(FacilityModel, LocalHourFollowsUsDst) {
    const FacilityModel model = load_zone("US-CAL-CISO");
    EXPECT_EQ(model.local_hour(utc("2023-01-15 00:00:00")), 16);  // PST
    EXPECT_EQ(model.local_hour(utc("2023-07-01 00:00:00")), 17);  // PDT
    EXPECT_EQ(model.local_hour(utc("2023-03-12 09:59:59")), 1);
    EXPECT_EQ(model.local_hour(utc("2023-03-12 10:00:00")), 3);  // 02:00 skipped
    EXPECT_EQ(model.local_hour(utc("2023-11-05 08:30:00")), 1);  // first 01:00 (PDT)
    EXPECT_EQ(model.local_hour(utc("2023-11-05 09:30:00")), 1);  // second 01:00 (PST)
    EXPECT_EQ(model.local_hour(utc("2023-11-05 10:00:00")), 2);
    EXPECT_EQ(model.local_hour(core::Seconds(NAN)), 16);  // the epoch: 1969-12-31 16:00 PST
}

TEST(FacilityModel, LocalHourFollowsEuDst) {
    const FacilityModel berlin = load_zone("DE-LU");
    EXPECT_EQ(berlin.local_hour(utc("2023-03-26 00:59:59")), 1);
    EXPECT_EQ(berlin.local_hour(utc("2023-03-26 01:00:00")), 3);
    EXPECT_EQ(berlin.local_hour(utc("2023-10-29 00:30:00")), 2);  // CEST
    EXPECT_EQ(berlin.local_hour(utc("2023-10-29 01:30:00")), 2);  // CET
    const FacilityModel london = load_zone("GB");
    EXPECT_EQ(london.local_hour(utc("2023-01-10 12:00:00")), 12);
    EXPECT_EQ(london.local_hour(utc("2023-06-10 12:00:00")), 13);
}

TEST(FacilityModel, PriceFollowsLocalPeakHours) {
    const FacilityModel model = load_zone("US-CAL-CISO");
    // Peak is 16:00-21:00 local: 23:00Z in July is 16:00 PDT, in January 15:00 PST.
    EXPECT_DOUBLE_EQ(model.price_usd_per_kwh(utc("2023-07-10 23:00:00")), 0.32);
    EXPECT_DOUBLE_EQ(model.price_usd_per_kwh(utc("2023-01-10 23:00:00")), 0.14);
    EXPECT_DOUBLE_EQ(model.price_usd_per_kwh(utc("2023-01-11 00:00:00")), 0.32);
    EXPECT_DOUBLE_EQ(model.price_usd_per_kwh(utc("2023-07-11 04:00:00")), 0.14);  // 21:00 PDT
}

TEST(FacilityModel, PueUsesTheHourTemperature) {
    const FacilityModel model = load_zone("US-TEX-ERCO");
    // Dallas: a July afternoon is hotter than a January night, so PUE at equal load is higher.
    const core::Seconds july_afternoon = utc("2023-07-20 21:00:00");
    const core::Seconds january_night = utc("2023-01-20 10:00:00");
    EXPECT_GT(model.outside_temp_c(july_afternoon), 30.0);
    EXPECT_GT(model.pue(july_afternoon, 0.8), model.pue(january_night, 0.8));
    EXPECT_GT(model.pue(july_afternoon, 0.2), model.pue(july_afternoon, 0.8));
}

}  // namespace
}  // namespace joulepilot::twin
