#pragma once
// Carbon-intensity forecasts for planning, made from the actual series so that a plan made on them can
// be scored on what really happened (evaluation.hpp). Each returns a series equal to the actual one before
// the issue time (history) and the forecast from it on:
//  - persistence: the last observed hour, held flat;
//  - seasonal naive: the last observed day, repeated (hour h of every coming day = hour h of the last one);
//  - day-ahead: the actual value times (1 + e_t), e_t a stationary AR(1) with the given standard deviation
//    and hour-to-hour correlation, seeded. It stands in for a published day-ahead forecast of known
//    error, since none is shipped with the data.
// Only carbon intensity is forecast: prices from a tariff are known ahead, a price CSV is taken as the
// day-ahead market's (known), and PUE comes from temperature, whose forecasts are far better than grid ones.

#include <cstdint>
#include <string_view>

#include "core/result.hpp"
#include "sched/site.hpp"

namespace joulepilot::sched {

enum class ForecastKind { perfect, persistence, seasonal_naive, day_ahead };
// "perfect", "persistence", "naive" (seasonal naive), "day-ahead".
core::Result<ForecastKind> parse_forecast(std::string_view name);
const char* to_string(ForecastKind kind);

struct ForecastOptions {
    ForecastKind kind = ForecastKind::seasonal_naive;
    double relative_error = 0.10;  // day-ahead: standard deviation of e_t
    double correlation = 0.9;      // day-ahead: hour-to-hour correlation of e_t
    std::uint64_t seed = 1;
};

twin::HourlySeries forecast_series(const twin::HourlySeries& actual, double issue_unix_s,
                                   const ForecastOptions& options, std::uint64_t stream = 0);
// Every site's carbon series replaced by its forecast (site i uses random stream i).
SiteSet forecast_sites(const SiteSet& actual, double issue_unix_s, const ForecastOptions& options);

}  // namespace joulepilot::sched
