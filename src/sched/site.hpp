#pragma once
// Sites a job may run at, and the objective's prices. Read from one JSON or TOML file:
//
//   [objective]                   # optional
//   carbon_price_usd_per_t = 100  # $ per tonne CO2 (0: carbon is reported, not priced)
//   lateness_usd_per_h = 0        # $ per hour a job finishes after its `due` time
//
//   [[sites]]
//   name = "frankfurt"
//   gpus = 64                     # GPU capacity available to the queue
//   zone = "DE-LU"                # carbon: data/electricitymaps-hourly-2023/<zone>_2023_hourly.csv;
//                                 # weather, time zone: data/open-meteo-weather-2023/<zone>_2023.json
//   carbon_csv = "de.csv"         # or an Electricity Maps CSV of your own (relative to this file)
//   pue = 1.2                     # constant, or a table: { model = "temperature",
//                                 #   it_load_fraction = 0.8, fixed_overhead, min_load, cooling_base,
//                                 #   cooling_per_degree, free_cooling_c }
//   price_usd_per_kwh = 0.15      # constant; or tariff = { offpeak_usd_per_kwh, peak_usd_per_kwh,
//                                 #   peak_start_hour, peak_end_hour } (local hours); or
//                                 #   price_csv = "prices.csv" (columns time, usd_per_kwh; UTC hours)
//   gpu_hour_usd = 2.0            # cost of one GPU for one hour of running
//   timezone = "Europe/Berlin"    # the tariff's local hours (default: the zone's, else UTC)
//
// JSON has the same shape: {"objective": {...}, "sites": [{...}, ...]}. Unknown keys are errors; errors
// name the file, the line (TOML), the site and the field. Thread-safe: const after loading.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "twin/facility/civil_time.hpp"
#include "twin/facility/facility_model.hpp"

namespace joulepilot::sched {

// Prices that turn energy, carbon and time into one money objective (DESIGN.md section 4).
struct ObjectiveWeights {
    double carbon_price_usd_per_t = 0;
    double lateness_usd_per_h = 0;
    [[nodiscard]] double carbon_price_usd_per_g() const { return carbon_price_usd_per_t / 1e6; }
};

struct Site {
    enum class PriceKind { constant, tariff, series };

    std::string name;
    int gpu_capacity = 0;
    double gpu_hour_usd = 0;

    twin::HourlySeries carbon_g_per_kwh;  // direct grid intensity per UTC hour
    std::string carbon_source;            // file it came from, for messages

    std::optional<double> constant_pue;  // set: PUE is this; unset: the model on outside temperature
    twin::PueModel pue_model;
    double it_load_fraction = 0.8;  // the load the PUE model is evaluated at (see docs/scheduling.md)
    twin::HourlySeries outside_temp_c;

    PriceKind price_kind = PriceKind::constant;
    double constant_price_usd_per_kwh = 0;
    twin::Tariff tariff;
    twin::ZoneClock clock;  // local time of the tariff
    twin::HourlySeries price_usd_per_kwh_series;

    // Values of the UTC hour starting at `hour_unix_s`; callers check covers() first.
    [[nodiscard]] double carbon_at(double hour_unix_s) const;
    [[nodiscard]] double pue_at(double hour_unix_s) const;
    [[nodiscard]] double price_at(double hour_unix_s) const;
    // Whether every series this site uses has a value for that hour (no clamping at the ends).
    [[nodiscard]] bool covers(double hour_unix_s) const;
};

struct SiteSet {
    std::vector<Site> sites;
    ObjectiveWeights weights;
    std::string source;
    std::vector<std::string> notes;  // defaults taken that a user may want to know about
    // Every data file the sites file made us read (carbon, weather, price CSVs): `schedule run` re-plans
    // when one of them changes.
    std::vector<std::filesystem::path> input_files;

    [[nodiscard]] const Site* find(std::string_view name) const;
};

// By extension: .json or .toml. `data_dir` is where `zone` finds the shipped data sets; relative file
// names inside the file are taken relative to the file's folder.
core::Result<SiteSet> read_sites(const std::filesystem::path& path, const std::filesystem::path& data_dir);
core::Result<SiteSet> parse_sites(std::string_view text, bool toml, const std::string& source_name,
                                  const std::filesystem::path& base_dir,
                                  const std::filesystem::path& data_dir);

// An hourly CSV of (UTC time, value): consecutive hours, no gaps or repeats; errors name file and line.
core::Result<twin::HourlySeries> read_hourly_csv(const std::filesystem::path& path,
                                                 std::string_view time_column, std::string_view value_column);

}  // namespace joulepilot::sched
