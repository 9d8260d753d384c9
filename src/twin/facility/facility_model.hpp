#pragma once
// The facility around the IT load: PUE, grid carbon intensity and electricity price per hour.
//  - Carbon: Electricity Maps hourly direct intensity (gCO2eq/kWh) of a zone, 2023, UTC hours
//    (data/electricitymaps-hourly-2023/<ZONE>_2023_hourly.csv).
//  - Weather: Open-Meteo hourly outside temperature at the zone's data-center location, 2023, given in
//    local time (data/open-meteo-weather-2023/<ZONE>_2023.json); converted to UTC with the zone's DST rules.
//  - PUE: a stated model, not a measurement (no measured PUE series is public): see PueModel.
//  - Price: a configurable time-of-use tariff in local time.
// Times are Unix seconds (UTC). Thread-safe: const after loading.

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"
#include "twin/facility/civil_time.hpp"

namespace joulepilot::twin {

// A value per UTC hour of a year, looked up by Unix time (clamped to the series' range).
// at() of an empty series, or of a NaN time, is NaN.
class HourlySeries {
public:
    HourlySeries() = default;
    HourlySeries(double first_hour_unix_s, std::vector<double> values)
        : m_first_hour(first_hour_unix_s), m_values(std::move(values)) {}
    [[nodiscard]] double at(core::Seconds unix_time) const;
    [[nodiscard]] std::size_t size() const { return m_values.size(); }
    [[nodiscard]] double first_hour_unix_s() const { return m_first_hour; }
    [[nodiscard]] const std::vector<double>& values() const { return m_values; }

private:
    double m_first_hour = 0;
    std::vector<double> m_values;
};

// Electricity Maps CSV -> direct carbon intensity, gCO2eq/kWh. Errors name file and line.
core::Result<HourlySeries> load_carbon_intensity_csv(const std::filesystem::path& path);
// Open-Meteo JSON -> outside temperature, degC, re-indexed to UTC hours (how local labels are read:
// weather.hpp).
core::Result<HourlySeries> load_outside_temperature(const std::filesystem::path& path);

// PUE as a stated function of outside temperature and IT load (fraction of the facility's IT capacity):
//   PUE = 1 + fixed_overhead / clamp(load, min_load, 1) + cooling_base
//         + cooling_per_degree * max(0, T - free_cooling_c)
// Fixed overhead (lighting, UPS no-load losses) weighs more at low load; cooling grows above the
// free-cooling temperature. Defaults give 1.14 at full load and 20 degC, 1.23 at full load and 35 degC,
// 1.41 at 10% load and 20 degC. A load above capacity (nameplate exceeded briefly) counts as full load.
struct PueModel {
    double fixed_overhead = 0.03;
    double min_load = 0.1;
    double cooling_base = 0.10;
    double cooling_per_degree = 0.006;
    double free_cooling_c = 18.0;
    [[nodiscard]] double pue(double outside_temp_c, double it_load_fraction) const;
};

// Time-of-use tariff in local hours: `peak_usd_per_kwh` from peak_start_hour to peak_end_hour (local),
// `offpeak_usd_per_kwh` otherwise. Default in the style of a Californian commercial TOU rate. A window
// with start > end wraps past midnight; start == end means no peak. Hours are taken modulo 24.
struct Tariff {
    double offpeak_usd_per_kwh = 0.14;
    double peak_usd_per_kwh = 0.32;
    int peak_start_hour = 16;
    int peak_end_hour = 21;
    [[nodiscard]] double price_usd_per_kwh(int local_hour) const;
};

// Zones with shipped data: US-CAL-CISO, US-TEX-ERCO, US-MIDA-PJM, DE-LU, GB.
std::vector<std::string> known_zones();
// Files of a zone under the data directory (they need not exist).
std::filesystem::path carbon_intensity_path(const std::filesystem::path& data_dir, const std::string& zone);
std::filesystem::path weather_path(const std::filesystem::path& data_dir, const std::string& zone);

class FacilityModel {
public:
    // Fails naming the zone and listing the known ones, or naming the file that could not be read.
    static core::Result<FacilityModel> load(const std::filesystem::path& data_dir, const std::string& zone,
                                            PueModel pue, Tariff tariff);

    [[nodiscard]] const std::string& zone() const { return m_zone; }
    [[nodiscard]] double carbon_g_per_kwh(core::Seconds unix_time) const { return m_carbon.at(unix_time); }
    [[nodiscard]] double outside_temp_c(core::Seconds unix_time) const { return m_temperature.at(unix_time); }
    [[nodiscard]] double pue(core::Seconds unix_time, double it_load_fraction) const;
    [[nodiscard]] double price_usd_per_kwh(core::Seconds unix_time) const;
    // Local hour of day (0-23) of the zone at `unix_time`, with DST. A non-finite time counts as 0.
    [[nodiscard]] int local_hour(core::Seconds unix_time) const;
    [[nodiscard]] const PueModel& pue_model() const { return m_pue; }
    [[nodiscard]] const Tariff& tariff() const { return m_tariff; }
    [[nodiscard]] const HourlySeries& carbon_series() const { return m_carbon; }
    [[nodiscard]] const HourlySeries& temperature_series() const { return m_temperature; }

private:
    std::string m_zone;
    ZoneClock m_clock;
    HourlySeries m_carbon;
    HourlySeries m_temperature;
    PueModel m_pue;
    Tariff m_tariff;
};

}  // namespace joulepilot::twin
