// Forecasts (forecast.cpp), the best-window baseline and the plan-on-forecast / score-on-actual
// evaluation (evaluation.cpp); receipts and the JSON report (report.cpp).

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sched/evaluation.hpp"
#include "sched/report.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::kHour;
using test::kJune1;
using test::make_job;
using test::make_site;

std::vector<double> ramp(int n) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) v.push_back(100 + i);
    return v;
}

TEST(Forecast, PersistenceHoldsTheLastHour) {
    const twin::HourlySeries actual(kJune1, ramp(72));
    ForecastOptions o;
    o.kind = ForecastKind::persistence;
    const auto f = forecast_series(actual, kJune1 + 30 * kHour, o);
    EXPECT_DOUBLE_EQ(f.values()[29], 129);  // history kept
    EXPECT_DOUBLE_EQ(f.values()[30], 129);
    EXPECT_DOUBLE_EQ(f.values()[71], 129);
}

TEST(Forecast, SeasonalNaiveRepeatsTheLastDay) {
    const twin::HourlySeries actual(kJune1, ramp(96));
    ForecastOptions o;
    o.kind = ForecastKind::seasonal_naive;
    const auto f = forecast_series(actual, kJune1 + 48 * kHour, o);
    EXPECT_DOUBLE_EQ(f.values()[48], 124);  // hour 48 <- hour 24
    EXPECT_DOUBLE_EQ(f.values()[71], 147);
    EXPECT_DOUBLE_EQ(f.values()[72], 124);  // and again the next day
}

TEST(Forecast, DayAheadHasTheConfiguredError) {
    const twin::HourlySeries actual(kJune1, std::vector<double>(20000, 200.0));
    ForecastOptions o;
    o.kind = ForecastKind::day_ahead;
    o.relative_error = 0.1;
    const auto f = forecast_series(actual, kJune1, o);
    double sum = 0;
    double sum_sq = 0;
    for (double v : f.values()) {
        sum += v / 200 - 1;
        sum_sq += (v / 200 - 1) * (v / 200 - 1);
    }
    const double n = static_cast<double>(f.size());
    EXPECT_NEAR(sum / n, 0.0, 0.02);
    EXPECT_NEAR(std::sqrt(sum_sq / n), 0.1, 0.02);
    // Seeded: the same again.
    EXPECT_EQ(forecast_series(actual, kJune1, o).values(), f.values());
    EXPECT_EQ(parse_forecast("day-ahead").value(), ForecastKind::day_ahead);
    EXPECT_FALSE(parse_forecast("crystal-ball").has_value());
}

SiteSet two_sites() {
    SiteSet set;
    set.weights.carbon_price_usd_per_t = 100;
    // Home is dirty except hour 5; the other site is clean all day.
    std::vector<double> home(48, 400.0);
    home[5] = 50;
    set.sites.push_back(make_site("home", 4, home));
    set.sites.push_back(make_site("away", 4, std::vector<double>(48, 100.0)));
    return set;
}

TEST(BestWindow, PicksTheLowestMeanIntensityAtTheFirstSiteOrAnywhere) {
    const auto problem =
        Problem::build({make_job("x", 1, 1, 1000, 0, 12, {"home", "away"})}, two_sites(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    const Plan first = best_window_plan(*problem, WindowScope::first_site);
    EXPECT_EQ(first.assignments[0].site, 0);
    EXPECT_EQ(first.assignments[0].slots.front().slot, 5);
    const Plan any = best_window_plan(*problem, WindowScope::allowed_sites);
    EXPECT_EQ(any.assignments[0].site, 0);  // 50 at home beats 100 away
}

TEST(Evaluate, PerfectForecastMatchesPerfectPlanAndBeatsRunNow) {
    std::vector<Job> jobs = {make_job("a", 4, 1, 1000, 0, 12, {"home", "away"}),
                             make_job("b", 4, 1, 1000, 0, 12, {"home", "away"})};
    ForecastOptions o;
    o.kind = ForecastKind::perfect;
    const auto r =
        evaluate(jobs, two_sites(), std::nullopt, o, SolverKind::fast, {}, WindowScope::allowed_sites);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->jobs_compared, 2);
    EXPECT_NEAR(r->regret_usd(), 0, 1e-9);
    EXPECT_NEAR(r->share_of_perfect_carbon_savings(), 1, 1e-9);
    // Run now: both at home at 400 g/kWh. Plan: one at home's clean hour, the other away at 100.
    EXPECT_NEAR(r->run_now.cost.carbon_g, 800, 1e-9);
    EXPECT_NEAR(r->perfect_plan.cost.carbon_g, 150, 1e-9);
    // The best-window baseline sends both to hour 5 at home: 8 GPUs on a 4-GPU site for an hour.
    EXPECT_NEAR(r->best_window.cost.carbon_g, 100, 1e-9);
    EXPECT_NEAR(r->best_window_overload_gpu_h, 4, 1e-9);
    EXPECT_GT(r->carbon_saved_fraction(r->perfect_plan), 0.8);
}

TEST(Evaluate, NaiveForecastHasRegret) {
    // Yesterday's clean hour (5) is dirty today and today's clean hour (30) was dirty yesterday.
    SiteSet set;
    set.weights.carbon_price_usd_per_t = 100;
    std::vector<double> carbon(72, 300.0);
    carbon[5] = 50;
    carbon[24 + 10] = 50;
    set.sites.push_back(make_site("home", 8, carbon));
    std::vector<Job> jobs = {make_job("a", 1, 1, 1000, 24, 48)};
    ForecastOptions o;
    o.kind = ForecastKind::seasonal_naive;
    const auto r = evaluate(jobs, set, kJune1 + 24 * kHour, o, SolverKind::fast, {}, WindowScope::first_site);
    ASSERT_TRUE(r.has_value());
    EXPECT_NEAR(r->perfect_plan.cost.carbon_g, 50, 1e-9);
    EXPECT_NEAR(r->forecast_plan.cost.carbon_g, 300, 1e-9);  // went for hour 29, dirty today
    EXPECT_NEAR(r->share_of_perfect_carbon_savings(), 0.0, 1e-9);
}

TEST(Report, ReceiptsAgainstRunNowAndJson) {
    std::vector<Job> jobs = {make_job("a", 4, 1, 1000, 0, 12, {"home", "away"}),
                             make_job("huge", 99, 1, 1000, 0, 12)};
    const auto problem = Problem::build(jobs, two_sites(), std::nullopt);
    ASSERT_TRUE(problem.has_value());
    const auto result = solve(*problem, SolverKind::exact);
    ASSERT_TRUE(result.has_value());
    const PlanReport report = make_report(*problem, *result);
    ASSERT_EQ(report.receipts.size(), 1U);
    EXPECT_EQ(report.receipts[0].run_now_site, "home");
    EXPECT_NEAR(report.receipts[0].run_now.carbon_g, 400, 1e-9);
    EXPECT_NEAR(report.receipts[0].planned.carbon_g, 50, 1e-9);
    ASSERT_EQ(report.unplanned.size(), 1U);
    EXPECT_EQ(report.unplanned[0].reason, Unplannable::too_big);
    const nlohmann::json j = report_json(report, *problem);
    EXPECT_EQ(j["jobs"][0]["start"], "2023-06-01T05:00:00Z");
    EXPECT_NEAR(j["totals"]["saved"]["carbon_kg"].get<double>(), 0.35, 1e-9);
    EXPECT_EQ(j["unplanned"][0]["reason"], "too_big");
    EXPECT_EQ(j["optimality_gap"], 0.0);
    EXPECT_THAT(report_text(report, *problem), ::testing::HasSubstr("not planned [too_big]"));
}

}  // namespace
}  // namespace joulepilot::sched
