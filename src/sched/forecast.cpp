#include "sched/forecast.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

namespace joulepilot::sched {

core::Result<ForecastKind> parse_forecast(std::string_view name) {
    if (name == "perfect") return ForecastKind::perfect;
    if (name == "persistence") return ForecastKind::persistence;
    if (name == "naive" || name == "seasonal-naive") return ForecastKind::seasonal_naive;
    if (name == "day-ahead") return ForecastKind::day_ahead;
    return core::fail(fmt::format("unknown forecast '{}' (perfect, persistence, naive, day-ahead)", name));
}

const char* to_string(ForecastKind kind) {
    switch (kind) {
        case ForecastKind::perfect:
            return "perfect";
        case ForecastKind::persistence:
            return "persistence";
        case ForecastKind::seasonal_naive:
            return "naive";
        case ForecastKind::day_ahead:
            return "day-ahead";
    }
    return "unknown";
}

twin::HourlySeries forecast_series(const twin::HourlySeries& actual, double issue_unix_s,
                                   const ForecastOptions& options, std::uint64_t stream) {
    std::vector<double> values = actual.values();
    if (values.empty() || options.kind == ForecastKind::perfect) return actual;
    // First hour that is not yet observed at the issue time.
    const double offset = std::ceil((issue_unix_s - actual.first_hour_unix_s()) / 3600.0);
    const auto n = static_cast<long long>(values.size());
    const long long issue = std::clamp(static_cast<long long>(offset), 0LL, n);
    // Without history (a plan at the very start of the data) the first value stands in for it.
    const auto observed = [&](long long i) { return values[static_cast<std::size_t>(std::max(0LL, i))]; };
    switch (options.kind) {
        case ForecastKind::perfect:
            break;
        case ForecastKind::persistence: {
            const double last = observed(issue - 1);
            for (long long i = issue; i < n; ++i) values[static_cast<std::size_t>(i)] = last;
            break;
        }
        case ForecastKind::seasonal_naive: {
            std::vector<double> last_day(24);
            for (long long h = 0; h < 24; ++h)
                last_day[static_cast<std::size_t>(h)] = observed(issue - 24 + h);
            for (long long i = issue; i < n; ++i)
                values[static_cast<std::size_t>(i)] = last_day[static_cast<std::size_t>((i - issue) % 24)];
            break;
        }
        case ForecastKind::day_ahead: {
            std::mt19937_64 random(options.seed * 1000003ULL + stream);
            std::normal_distribution<double> normal(0.0, 1.0);
            const double rho = std::clamp(options.correlation, 0.0, 0.999);
            const double innovation = options.relative_error * std::sqrt(1 - rho * rho);
            double e = options.relative_error * normal(random);
            for (long long i = issue; i < n; ++i) {
                values[static_cast<std::size_t>(i)] =
                    std::max(0.0, values[static_cast<std::size_t>(i)] * (1 + e));
                e = rho * e + innovation * normal(random);
            }
            break;
        }
    }
    return twin::HourlySeries(actual.first_hour_unix_s(), std::move(values));
}

SiteSet forecast_sites(const SiteSet& actual, double issue_unix_s, const ForecastOptions& options) {
    SiteSet out = actual;
    for (std::size_t i = 0; i < out.sites.size(); ++i) {
        out.sites[i].carbon_g_per_kwh =
            forecast_series(actual.sites[i].carbon_g_per_kwh, issue_unix_s, options, i);
    }
    return out;
}

}  // namespace joulepilot::sched
