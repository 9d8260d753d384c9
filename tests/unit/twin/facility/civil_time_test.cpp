#include "twin/facility/civil_time.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace joulepilot::twin {
namespace {

// Unix seconds of a UTC wall-clock time (the same parser the loaders use, checked below).
std::int64_t utc(const char* text) {
    const auto seconds = parse_naive_datetime(text);
    EXPECT_TRUE(seconds.has_value()) << text;
    return seconds.value_or(0);
}

const ZoneClock kLosAngeles = *zone_clock_for_iana("America/Los_Angeles");
const ZoneClock kNewYork = *zone_clock_for_iana("America/New_York");
const ZoneClock kBerlin = *zone_clock_for_iana("Europe/Berlin");
const ZoneClock kLondon = *zone_clock_for_iana("Europe/London");

TEST(CivilTime, DaysFromCivilKnownDates) {
    EXPECT_EQ(days_from_civil({1970, 1, 1}), 0);
    EXPECT_EQ(days_from_civil({1969, 12, 31}), -1);
    EXPECT_EQ(days_from_civil({2000, 3, 1}), 11017);
    EXPECT_EQ(days_from_civil({2023, 1, 1}), 19358);
    EXPECT_EQ(days_from_civil({2024, 2, 29}) + 1, days_from_civil({2024, 3, 1}));
    EXPECT_EQ(days_from_civil({2100, 3, 1}) - days_from_civil({2100, 2, 28}), 1);  // 2100 is not leap
    EXPECT_EQ(civil_from_days(19358), (CivilDate{2023, 1, 1}));
    EXPECT_EQ(civil_from_days(-1), (CivilDate{1969, 12, 31}));
}

RC_GTEST_PROP(CivilTime, CivilRoundTrip, ()) {
    const auto days = *rc::gen::inRange<std::int64_t>(-1'000'000, 1'000'000);
    const CivilDate date = civil_from_days(days);
    RC_ASSERT(days_from_civil(date) == days);
    RC_ASSERT(date.month >= 1 && date.month <= 12 && date.day >= 1 && date.day <= 31);
    // The next day is either the next day of the month or the first of the next month.
    const CivilDate next = civil_from_days(days + 1);
    RC_ASSERT((next.day == date.day + 1) || next.day == 1);
}

TEST(CivilTime, Weekdays) {
    EXPECT_EQ(weekday_from_days(0), 4);                              // 1970-01-01, Thursday
    EXPECT_EQ(weekday_from_days(days_from_civil({2023, 1, 1})), 0);  // Sunday
    EXPECT_EQ(weekday_from_days(-1), 3);                             // Wednesday
}

TEST(CivilTime, SwitchSundays) {
    EXPECT_EQ(civil_from_days(nth_sunday(2023, 3, 2)), (CivilDate{2023, 3, 12}));
    EXPECT_EQ(civil_from_days(nth_sunday(2023, 11, 1)), (CivilDate{2023, 11, 5}));
    EXPECT_EQ(civil_from_days(last_sunday(2023, 3)), (CivilDate{2023, 3, 26}));
    EXPECT_EQ(civil_from_days(last_sunday(2023, 10)), (CivilDate{2023, 10, 29}));
    EXPECT_EQ(civil_from_days(nth_sunday(2024, 3, 2)), (CivilDate{2024, 3, 10}));
    EXPECT_EQ(civil_from_days(nth_sunday(2024, 11, 1)), (CivilDate{2024, 11, 3}));
    EXPECT_EQ(civil_from_days(last_sunday(2024, 3)), (CivilDate{2024, 3, 31}));
    EXPECT_EQ(civil_from_days(last_sunday(2024, 10)), (CivilDate{2024, 10, 27}));
    // A month starting on a Sunday: 2026-03-01.
    EXPECT_EQ(civil_from_days(nth_sunday(2026, 3, 1)), (CivilDate{2026, 3, 1}));
}

TEST(CivilTime, ParsesAndRejectsTimes) {
    EXPECT_EQ(parse_naive_datetime("1970-01-01 00:00:00"), 0);
    EXPECT_EQ(parse_naive_datetime("2023-01-01 00:00:00"), 1672531200);
    EXPECT_EQ(parse_naive_datetime("2023-01-01T00:00"), 1672531200);
    EXPECT_EQ(parse_naive_datetime("2023-01-01T01:02:03"), 1672531200 + 3723);
    EXPECT_EQ(parse_naive_datetime("2024-02-29 12:00"), days_from_civil({2024, 2, 29}) * 86400 + 43200);
    for (const char* bad : {"", "2023-02-29 00:00", "2023-13-01T00:00", "2023-01-01 24:00",
                            "2023-01-01T00:00Z", "2023-01-01T00:60", "2023/01/01 00:00", "2023-01-01",
                            "2023-01-01T0a:00", "2023-01-01 00:00:00.5", "20230101T0000"}) {
        EXPECT_FALSE(parse_naive_datetime(bad).has_value()) << bad;
    }
    EXPECT_EQ(format_naive_datetime(1672531200 + 3723), "2023-01-01 01:02:03");
    EXPECT_EQ(format_naive_datetime(-1), "1969-12-31 23:59:59");
}

TEST(CivilTime, KnownZones) {
    EXPECT_EQ(kLosAngeles.standard_offset_s, -8 * 3600);
    EXPECT_EQ(kLosAngeles.dst, DstRule::us);
    EXPECT_EQ(zone_clock_for_iana("America/Chicago")->standard_offset_s, -6 * 3600);
    EXPECT_EQ(kNewYork.standard_offset_s, -5 * 3600);
    EXPECT_EQ(kBerlin.standard_offset_s, 3600);
    EXPECT_EQ(kBerlin.dst, DstRule::eu);
    EXPECT_EQ(kLondon.standard_offset_s, 0);
    EXPECT_EQ(zone_clock_for_iana("UTC")->dst, DstRule::none);
    EXPECT_FALSE(zone_clock_for_iana("Asia/Tokyo").has_value());
    EXPECT_FALSE(dst_window(ZoneClock{}, 2023).has_value());
}

TEST(CivilTime, UsSpringForward) {
    // 2023-03-12 02:00 PST = 10:00Z in Los Angeles, 07:00Z in New York.
    const auto window = dst_window(kLosAngeles, 2023);
    ASSERT_TRUE(window.has_value());
    EXPECT_EQ(window->start_unix_s, utc("2023-03-12 10:00:00"));
    EXPECT_EQ(dst_window(kNewYork, 2023)->start_unix_s, utc("2023-03-12 07:00:00"));

    EXPECT_EQ(utc_offset_s(kLosAngeles, utc("2023-03-12 09:59:59")), -8 * 3600);
    EXPECT_EQ(utc_offset_s(kLosAngeles, utc("2023-03-12 10:00:00")), -7 * 3600);
    EXPECT_EQ(unix_to_local(kLosAngeles, utc("2023-03-12 09:59:59")), utc("2023-03-12 01:59:59"));
    EXPECT_EQ(unix_to_local(kLosAngeles, utc("2023-03-12 10:00:00")), utc("2023-03-12 03:00:00"));

    // Local 02:00-02:59 is skipped: no instant.
    EXPECT_FALSE(local_to_unix(kLosAngeles, utc("2023-03-12 02:00:00")).has_value());
    EXPECT_FALSE(local_to_unix(kLosAngeles, utc("2023-03-12 02:59:59")).has_value());
    EXPECT_EQ(local_to_unix(kLosAngeles, utc("2023-03-12 01:59:59")), utc("2023-03-12 09:59:59"));
    EXPECT_EQ(local_to_unix(kLosAngeles, utc("2023-03-12 03:00:00")), utc("2023-03-12 10:00:00"));
}

TEST(CivilTime, UsFallBack) {
    // 2023-11-05 02:00 PDT = 09:00Z in Los Angeles.
    EXPECT_EQ(dst_window(kLosAngeles, 2023)->end_unix_s, utc("2023-11-05 09:00:00"));
    EXPECT_EQ(utc_offset_s(kLosAngeles, utc("2023-11-05 08:59:59")), -7 * 3600);
    EXPECT_EQ(utc_offset_s(kLosAngeles, utc("2023-11-05 09:00:00")), -8 * 3600);

    // Local 01:30 happens twice: 08:30Z (PDT) and 09:30Z (PST).
    const std::int64_t local = utc("2023-11-05 01:30:00");
    EXPECT_EQ(local_to_unix(kLosAngeles, local, RepeatedHour::earlier), utc("2023-11-05 08:30:00"));
    EXPECT_EQ(local_to_unix(kLosAngeles, local, RepeatedHour::later), utc("2023-11-05 09:30:00"));
    // Just outside the repeated hour there is one answer, whatever the preference.
    for (auto pick : {RepeatedHour::earlier, RepeatedHour::later}) {
        EXPECT_EQ(local_to_unix(kLosAngeles, utc("2023-11-05 00:59:59"), pick), utc("2023-11-05 07:59:59"));
        EXPECT_EQ(local_to_unix(kLosAngeles, utc("2023-11-05 02:00:00"), pick), utc("2023-11-05 10:00:00"));
    }
}

TEST(CivilTime, EuSwitchesAtOneUtcInEveryZone) {
    for (const ZoneClock& clock : {kBerlin, kLondon}) {
        const auto window = dst_window(clock, 2023);
        ASSERT_TRUE(window.has_value());
        EXPECT_EQ(window->start_unix_s, utc("2023-03-26 01:00:00"));
        EXPECT_EQ(window->end_unix_s, utc("2023-10-29 01:00:00"));
    }
    EXPECT_EQ(utc_offset_s(kBerlin, utc("2023-03-26 00:59:59")), 3600);
    EXPECT_EQ(utc_offset_s(kBerlin, utc("2023-03-26 01:00:00")), 7200);
    EXPECT_EQ(utc_offset_s(kLondon, utc("2023-07-01 12:00:00")), 3600);
    EXPECT_EQ(utc_offset_s(kLondon, utc("2023-10-29 01:00:00")), 0);

    // Spring: Berlin skips 02:00-02:59 local, London 01:00-01:59.
    EXPECT_FALSE(local_to_unix(kBerlin, utc("2023-03-26 02:30:00")).has_value());
    EXPECT_FALSE(local_to_unix(kLondon, utc("2023-03-26 01:30:00")).has_value());
    EXPECT_EQ(local_to_unix(kBerlin, utc("2023-03-26 03:00:00")), utc("2023-03-26 01:00:00"));
    EXPECT_EQ(local_to_unix(kLondon, utc("2023-03-26 02:00:00")), utc("2023-03-26 01:00:00"));

    // Autumn: Berlin repeats 02:00-02:59 local, London 01:00-01:59.
    EXPECT_EQ(local_to_unix(kBerlin, utc("2023-10-29 02:30:00"), RepeatedHour::earlier),
              utc("2023-10-29 00:30:00"));
    EXPECT_EQ(local_to_unix(kBerlin, utc("2023-10-29 02:30:00"), RepeatedHour::later),
              utc("2023-10-29 01:30:00"));
    EXPECT_EQ(local_to_unix(kLondon, utc("2023-10-29 01:30:00"), RepeatedHour::earlier),
              utc("2023-10-29 00:30:00"));
    EXPECT_EQ(local_to_unix(kLondon, utc("2023-10-29 01:30:00"), RepeatedHour::later),
              utc("2023-10-29 01:30:00"));
}

RC_GTEST_PROP(CivilTime, LocalToUnixInvertsUnixToLocal, ()) {
    const ZoneClock clock = *rc::gen::element(kLosAngeles, kNewYork, kBerlin, kLondon);
    const auto t = *rc::gen::inRange<std::int64_t>(utc("2022-01-01 00:00:00"), utc("2026-01-01 00:00:00"));
    const std::int64_t local = unix_to_local(clock, t);
    const auto earlier = local_to_unix(clock, local, RepeatedHour::earlier);
    const auto later = local_to_unix(clock, local, RepeatedHour::later);
    RC_ASSERT(earlier.has_value() && later.has_value());
    RC_ASSERT(*earlier == t || *later == t);
    // Two answers only inside the repeated hour, and then exactly one hour apart.
    RC_ASSERT(*later - *earlier == 0 || *later - *earlier == 3600);
}

}  // namespace
}  // namespace joulepilot::twin
