#include "twin/facility/facility_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "twin/facility/weather.hpp"

namespace joulepilot::twin {

namespace {

struct ZoneInfo {
    std::string_view id;    // Electricity Maps zone id, also the file name stem
    std::string_view iana;  // time zone of the data-center location the weather file was taken at
};

// San Jose, Dallas, Philadelphia, Frankfurt, London (data/open-meteo-weather-2023/README.md).
constexpr std::array<ZoneInfo, 5> kZones = {{
    {"US-CAL-CISO", "America/Los_Angeles"},
    {"US-TEX-ERCO", "America/Chicago"},
    {"US-MIDA-PJM", "America/New_York"},
    {"DE-LU", "Europe/Berlin"},
    {"GB", "Europe/London"},
}};

const ZoneInfo* find_zone(std::string_view id) {
    const auto* const it =
        std::find_if(kZones.begin(), kZones.end(), [&](const ZoneInfo& z) { return z.id == id; });
    return it == kZones.end() ? nullptr : &*it;
}

// Times far beyond any data set (about +-31,700 years) are clamped before integer conversion.
constexpr double kMaxAbsUnixS = 1e12;

}  // namespace

double HourlySeries::at(core::Seconds unix_time) const {
    const double t = unix_time.value();
    if (m_values.empty() || std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
    const double index = std::floor((t - m_first_hour) / static_cast<double>(kSecondsPerHour));
    if (index <= 0) return m_values.front();
    if (index >= static_cast<double>(m_values.size() - 1)) return m_values.back();
    return m_values[static_cast<std::size_t>(index)];
}

double PueModel::pue(double outside_temp_c, double it_load_fraction) const {
    // std::min keeps clamp well-defined if someone configures min_load above 1.
    const double load = std::clamp(it_load_fraction, std::min(min_load, 1.0), 1.0);
    return 1.0 + fixed_overhead / load + cooling_base +
           cooling_per_degree * std::max(0.0, outside_temp_c - free_cooling_c);
}

double Tariff::price_usd_per_kwh(int local_hour) const {
    const auto wrap = [](int hour) { return ((hour % 24) + 24) % 24; };
    const int hour = wrap(local_hour);
    const int start = wrap(peak_start_hour);
    const int end = wrap(peak_end_hour);
    const bool peak = start <= end ? (hour >= start && hour < end) : (hour >= start || hour < end);
    return peak ? peak_usd_per_kwh : offpeak_usd_per_kwh;
}

std::vector<std::string> known_zones() {
    std::vector<std::string> zones;
    zones.reserve(kZones.size());
    for (const auto& zone : kZones) zones.emplace_back(zone.id);
    return zones;
}

std::filesystem::path carbon_intensity_path(const std::filesystem::path& data_dir, const std::string& zone) {
    return data_dir / "electricitymaps-hourly-2023" / (zone + "_2023_hourly.csv");
}

std::filesystem::path weather_path(const std::filesystem::path& data_dir, const std::string& zone) {
    return data_dir / "open-meteo-weather-2023" / (zone + "_2023.json");
}

core::Result<FacilityModel> FacilityModel::load(const std::filesystem::path& data_dir,
                                                const std::string& zone, PueModel pue, Tariff tariff) {
    const ZoneInfo* info = find_zone(zone);
    if (info == nullptr) {
        return core::fail(fmt::format("facility: unknown zone '{}' (known zones: {})", zone,
                                      fmt::join(known_zones(), ", ")));
    }
    auto carbon = load_carbon_intensity_csv(carbon_intensity_path(data_dir, zone));
    if (!carbon) return tl::unexpected(carbon.error());
    const auto weather_file = weather_path(data_dir, zone);
    auto weather = load_open_meteo_weather(weather_file);
    if (!weather) return tl::unexpected(weather.error());
    // A weather file of another place would pass every other check; the time zone catches a mix-up.
    if (weather->timezone != info->iana) {
        return core::fail(fmt::format("{}: timezone '{}' does not match zone {} (expected '{}')",
                                      weather_file.string(), weather->timezone, zone, info->iana));
    }

    FacilityModel model;
    model.m_zone = zone;
    model.m_clock = weather->clock;
    model.m_carbon = std::move(*carbon);
    model.m_temperature = std::move(weather->temperature_c);
    model.m_pue = pue;
    model.m_tariff = tariff;
    return model;
}

double FacilityModel::pue(core::Seconds unix_time, double it_load_fraction) const {
    return m_pue.pue(outside_temp_c(unix_time), it_load_fraction);
}

double FacilityModel::price_usd_per_kwh(core::Seconds unix_time) const {
    return m_tariff.price_usd_per_kwh(local_hour(unix_time));
}

int FacilityModel::local_hour(core::Seconds unix_time) const {
    const double t =
        std::isfinite(unix_time.value()) ? std::clamp(unix_time.value(), -kMaxAbsUnixS, kMaxAbsUnixS) : 0.0;
    const std::int64_t local = unix_to_local(m_clock, static_cast<std::int64_t>(std::floor(t)));
    const std::int64_t second_of_day = ((local % kSecondsPerDay) + kSecondsPerDay) % kSecondsPerDay;
    return static_cast<int>(second_of_day / kSecondsPerHour);
}

}  // namespace joulepilot::twin
