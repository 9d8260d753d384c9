#include "sched/site.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include "core/csv.hpp"
#include "twin/facility/weather.hpp"

namespace joulepilot::sched {

namespace {

using nlohmann::json;

// Index of the hour starting at `hour_unix_s` in a series, or -1 outside it. No clamping: a plan must
// never silently reuse the last hour of a year for the next one.
long long index_of(const twin::HourlySeries& series, double hour_unix_s) {
    if (series.size() == 0) return -1;
    const double offset = (hour_unix_s - series.first_hour_unix_s()) / 3600.0;
    const double index = std::floor(offset);
    if (index < 0 || index >= static_cast<double>(series.size())) return -1;
    return static_cast<long long>(index);
}

// TOML is read into the same JSON shape as a JSON file, keeping the line of every value so that errors
// about a TOML file can name the line.
using LineMap = std::map<std::string, std::size_t>;

json toml_to_json(const toml::node& node, const std::string& path, LineMap& lines) {
    lines[path] = node.source().begin.line;
    if (const auto* table = node.as_table()) {
        json object = json::object();
        for (const auto& [key, value] : *table) {
            const std::string child =
                path.empty() ? std::string(key.str()) : path + "." + std::string(key.str());
            object[std::string(key.str())] = toml_to_json(value, child, lines);
        }
        return object;
    }
    if (const auto* array = node.as_array()) {
        json list = json::array();
        for (std::size_t i = 0; i < array->size(); ++i) {
            list.push_back(toml_to_json(*array->get(i), fmt::format("{}[{}]", path, i), lines));
        }
        return list;
    }
    if (const auto* text = node.as_string()) return text->get();
    if (const auto* integer = node.as_integer()) return integer->get();
    if (const auto* number = node.as_floating_point()) return number->get();
    if (const auto* flag = node.as_boolean()) return flag->get();
    // Dates and times have no meaning in a sites file: a marker string that every field check rejects.
    return "(a TOML date or time)";
}

class SitesBuilder {
public:
    SitesBuilder(std::string source, const LineMap* lines, std::filesystem::path base_dir,
                 std::filesystem::path data_dir)
        : m_source(std::move(source)),
          m_lines(lines),
          m_base_dir(std::move(base_dir)),
          m_data_dir(std::move(data_dir)) {}

    core::Result<SiteSet> build(const json& document) {
        if (!document.is_object()) return fail_at("", "expected a table/object with \"sites\"");
        for (const auto& [key, value] : document.items()) {
            if (key != "sites" && key != "objective")
                return fail_at(key, "unknown key (expected sites, objective)");
        }
        SiteSet set;
        set.source = m_source;
        if (const auto it = document.find("objective"); it != document.end()) {
            if (!it->is_object()) return fail_at("objective", "not a table");
            for (const auto& [key, value] : it->items()) {
                if (key != "carbon_price_usd_per_t" && key != "lateness_usd_per_h") {
                    return fail_at("objective." + key,
                                   "unknown key (expected carbon_price_usd_per_t, lateness_usd_per_h)");
                }
            }
            auto carbon = number(*it, "objective", "carbon_price_usd_per_t", 0, 1e6, 0);
            if (!carbon) return tl::unexpected(carbon.error());
            set.weights.carbon_price_usd_per_t = *carbon;
            auto lateness = number(*it, "objective", "lateness_usd_per_h", 0, 1e9, 0);
            if (!lateness) return tl::unexpected(lateness.error());
            set.weights.lateness_usd_per_h = *lateness;
        }
        const auto sites = document.find("sites");
        if (sites == document.end() || !sites->is_array() || sites->empty()) {
            return fail_at("sites", "missing or empty: give at least one site");
        }
        std::set<std::string> names;
        for (std::size_t i = 0; i < sites->size(); ++i) {
            auto site = build_site((*sites)[i], fmt::format("sites[{}]", i));
            if (!site) return tl::unexpected(site.error());
            if (!names.insert(site->name).second) {
                return fail_at(fmt::format("sites[{}].name", i),
                               fmt::format("'{}' is used by an earlier site", site->name));
            }
            set.sites.push_back(std::move(*site));
        }
        set.notes = m_notes;
        set.input_files = m_inputs;
        return set;
    }

private:
    // "<file>:<line>: <path>: <what>" (the line only for TOML).
    [[nodiscard]] tl::unexpected<core::Error> fail_at(const std::string& path,
                                                      const std::string& what) const {
        std::string where = m_source;
        if (m_lines != nullptr) {
            // The value's own line, else the nearest enclosing table's.
            std::string probe = path;
            while (true) {
                if (const auto it = m_lines->find(probe); it != m_lines->end() && it->second > 0) {
                    where += fmt::format(":{}", it->second);
                    break;
                }
                const auto cut = probe.find_last_of(".[");
                if (cut == std::string::npos) break;
                probe.erase(cut);
            }
        }
        return core::fail(path.empty() ? fmt::format("{}: {}", where, what)
                                       : fmt::format("{}: {}: {}", where, path, what));
    }

    core::Result<double> number(const json& object, const std::string& path, const std::string& key,
                                double min, double max, double fallback) const {
        const auto it = object.find(key);
        if (it == object.end()) return fallback;
        if (!it->is_number()) return fail_at(path + "." + key, "not a number");
        const double value = it->get<double>();
        if (!std::isfinite(value) || value < min || value > max) {
            return fail_at(path + "." + key, fmt::format("{} is outside [{}, {}]", value, min, max));
        }
        return value;
    }

    core::Result<std::string> text(const json& object, const std::string& path,
                                   const std::string& key) const {
        const auto it = object.find(key);
        if (it == object.end()) return std::string();
        if (!it->is_string() || it->get<std::string>().empty())
            return fail_at(path + "." + key, "not a non-empty string");
        return it->get<std::string>();
    }

    std::filesystem::path resolve(const std::string& file) const {
        const std::filesystem::path p(file);
        return p.is_absolute() ? p : m_base_dir / p;
    }

    static bool is_known_zone(const std::string& zone) {
        const auto zones = twin::known_zones();
        return std::find(zones.begin(), zones.end(), zone) != zones.end();
    }

    core::Result<Site> build_site(const json& object, const std::string& path) {
        if (!object.is_object()) return fail_at(path, "not a table/object");
        static const std::set<std::string> kKeys = {
            "name",   "gpus",      "zone",         "carbon_csv", "pue",    "price_usd_per_kwh",
            "tariff", "price_csv", "gpu_hour_usd", "timezone",   "comment"};
        for (const auto& [key, value] : object.items()) {
            if (kKeys.count(key) == 0) {
                return fail_at(path + "." + key,
                               fmt::format("unknown key (known: {})", fmt::join(kKeys, ", ")));
            }
        }
        Site site;
        auto name = text(object, path, "name");
        if (!name) return tl::unexpected(name.error());
        if (name->empty()) return fail_at(path + ".name", "missing");
        site.name = *name;
        const std::string where = fmt::format("{} ('{}')", path, site.name);

        const auto gpus = object.find("gpus");
        if (gpus == object.end() || !gpus->is_number_integer() || gpus->get<long long>() < 1 ||
            gpus->get<long long>() > 10'000'000) {
            return fail_at(path + ".gpus", "missing or not a whole number of GPUs (at least 1)");
        }
        site.gpu_capacity = static_cast<int>(gpus->get<long long>());
        auto gpu_cost = number(object, path, "gpu_hour_usd", 0, 1e4, 0);
        if (!gpu_cost) return tl::unexpected(gpu_cost.error());
        site.gpu_hour_usd = *gpu_cost;

        auto zone = text(object, path, "zone");
        if (!zone) return tl::unexpected(zone.error());
        if (!zone->empty() && !is_known_zone(*zone)) {
            return fail_at(path + ".zone", fmt::format("unknown zone '{}' (shipped: {})", *zone,
                                                       fmt::join(twin::known_zones(), ", ")));
        }
        auto carbon_csv = text(object, path, "carbon_csv");
        if (!carbon_csv) return tl::unexpected(carbon_csv.error());
        std::filesystem::path carbon_path;
        if (!carbon_csv->empty()) {
            carbon_path = resolve(*carbon_csv);
        } else if (!zone->empty()) {
            carbon_path = twin::carbon_intensity_path(m_data_dir, *zone);
        } else {
            return fail_at(path, "give `zone` or `carbon_csv` for the site's carbon intensity");
        }
        auto carbon = twin::load_carbon_intensity_csv(carbon_path);
        if (!carbon)
            return core::fail(fmt::format("site '{}': carbon: {}", site.name, carbon.error().message));
        site.carbon_g_per_kwh = std::move(*carbon);
        site.carbon_source = carbon_path.string();
        m_inputs.push_back(carbon_path);

        // The zone's weather file gives the outside temperature and the local clock.
        std::optional<twin::WeatherSeries> weather;
        auto load_weather = [&]() -> core::Result<void> {
            if (weather) return {};
            if (zone->empty()) {
                return fail_at(
                    path, "a temperature PUE model or a tariff in local time needs `zone` (or `timezone`)");
            }
            m_inputs.push_back(twin::weather_path(m_data_dir, *zone));
            auto loaded = twin::load_open_meteo_weather(m_inputs.back());
            if (!loaded)
                return core::fail(fmt::format("site '{}': weather: {}", site.name, loaded.error().message));
            weather = std::move(*loaded);
            return {};
        };

        // PUE: a number, or the temperature model.
        const auto pue = object.find("pue");
        if (pue == object.end()) {
            site.constant_pue = 1.0;
            m_notes.push_back(fmt::format("{}: no pue given, using 1.0", where));
        } else if (pue->is_number()) {
            const double value = pue->get<double>();
            if (!(value >= 1.0 && value <= 5.0))
                return fail_at(path + ".pue", fmt::format("{} is outside [1, 5]", value));
            site.constant_pue = value;
        } else if (pue->is_object()) {
            const std::string pue_path = path + ".pue";
            static const std::set<std::string> kPueKeys = {
                "model",        "it_load_fraction",   "fixed_overhead", "min_load",
                "cooling_base", "cooling_per_degree", "free_cooling_c"};
            for (const auto& [key, value] : pue->items()) {
                if (kPueKeys.count(key) == 0) {
                    return fail_at(pue_path + "." + key,
                                   fmt::format("unknown key (known: {})", fmt::join(kPueKeys, ", ")));
                }
            }
            auto model = text(*pue, pue_path, "model");
            if (!model) return tl::unexpected(model.error());
            if (*model != "temperature") return fail_at(pue_path + ".model", "must be \"temperature\"");
            twin::PueModel& m = site.pue_model;
            struct Param {
                const char* key;
                double* target;
                double min;
                double max;
            };
            for (const Param& p :
                 {Param{"fixed_overhead", &m.fixed_overhead, 0, 1}, Param{"min_load", &m.min_load, 0.01, 1},
                  Param{"cooling_base", &m.cooling_base, 0, 2},
                  Param{"cooling_per_degree", &m.cooling_per_degree, 0, 0.2},
                  Param{"free_cooling_c", &m.free_cooling_c, -50, 60},
                  Param{"it_load_fraction", &site.it_load_fraction, 0.01, 1}}) {
                auto value = number(*pue, pue_path, p.key, p.min, p.max, *p.target);
                if (!value) return tl::unexpected(value.error());
                *p.target = *value;
            }
            if (auto loaded = load_weather(); !loaded) return tl::unexpected(loaded.error());
            site.outside_temp_c = weather->temperature_c;
        } else {
            return fail_at(path + ".pue", "not a number or a table");
        }

        // Local clock: explicit time zone, else the zone's, else UTC.
        auto timezone = text(object, path, "timezone");
        if (!timezone) return tl::unexpected(timezone.error());

        // Price: exactly one of constant, tariff, CSV.
        const int price_kinds = static_cast<int>(object.contains("price_usd_per_kwh")) +
                                static_cast<int>(object.contains("tariff")) +
                                static_cast<int>(object.contains("price_csv"));
        if (price_kinds > 1) return fail_at(path, "give only one of price_usd_per_kwh, tariff and price_csv");
        if (object.contains("tariff")) {
            const json& tariff = object["tariff"];
            const std::string tariff_path = path + ".tariff";
            if (!tariff.is_object()) return fail_at(tariff_path, "not a table");
            for (const auto& [key, value] : tariff.items()) {
                if (key != "offpeak_usd_per_kwh" && key != "peak_usd_per_kwh" && key != "peak_start_hour" &&
                    key != "peak_end_hour") {
                    return fail_at(tariff_path + "." + key,
                                   "unknown key (known: offpeak_usd_per_kwh, peak_usd_per_kwh, "
                                   "peak_start_hour, peak_end_hour)");
                }
            }
            twin::Tariff& t = site.tariff;
            auto offpeak = number(tariff, tariff_path, "offpeak_usd_per_kwh", 0, 100, t.offpeak_usd_per_kwh);
            auto peak = number(tariff, tariff_path, "peak_usd_per_kwh", 0, 100, t.peak_usd_per_kwh);
            auto start = number(tariff, tariff_path, "peak_start_hour", 0, 24, t.peak_start_hour);
            auto end = number(tariff, tariff_path, "peak_end_hour", 0, 24, t.peak_end_hour);
            for (const auto* r : {&offpeak, &peak, &start, &end}) {
                if (!*r) return tl::unexpected(r->error());
            }
            t.offpeak_usd_per_kwh = *offpeak;
            t.peak_usd_per_kwh = *peak;
            t.peak_start_hour = static_cast<int>(*start);
            t.peak_end_hour = static_cast<int>(*end);
            site.price_kind = Site::PriceKind::tariff;
            if (!timezone->empty()) {
                const auto clock = twin::zone_clock_for_iana(*timezone);
                if (!clock)
                    return fail_at(path + ".timezone", fmt::format("unknown time zone '{}'", *timezone));
                site.clock = *clock;
            } else if (!zone->empty()) {
                if (auto loaded = load_weather(); !loaded) return tl::unexpected(loaded.error());
                site.clock = weather->clock;
            } else {
                m_notes.push_back(fmt::format("{}: tariff hours read as UTC (no zone or timezone)", where));
            }
        } else if (object.contains("price_csv")) {
            auto file = text(object, path, "price_csv");
            if (!file) return tl::unexpected(file.error());
            m_inputs.push_back(resolve(*file));
            auto series = read_hourly_csv(m_inputs.back(), "time", "usd_per_kwh");
            if (!series)
                return core::fail(fmt::format("site '{}': price: {}", site.name, series.error().message));
            site.price_usd_per_kwh_series = std::move(*series);
            site.price_kind = Site::PriceKind::series;
        } else {
            auto price = number(object, path, "price_usd_per_kwh", 0, 100, 0);
            if (!price) return tl::unexpected(price.error());
            site.constant_price_usd_per_kwh = *price;
            site.price_kind = Site::PriceKind::constant;
        }
        return site;
    }

    std::string m_source;
    const LineMap* m_lines;
    std::filesystem::path m_base_dir;
    std::filesystem::path m_data_dir;
    std::vector<std::string> m_notes;
    std::vector<std::filesystem::path> m_inputs;  // data files read, in order (SiteSet::input_files)
};

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

}  // namespace

double Site::carbon_at(double hour_unix_s) const {
    return carbon_g_per_kwh.values()[static_cast<std::size_t>(index_of(carbon_g_per_kwh, hour_unix_s))];
}

double Site::pue_at(double hour_unix_s) const {
    if (constant_pue) return *constant_pue;
    const double temp =
        outside_temp_c.values()[static_cast<std::size_t>(index_of(outside_temp_c, hour_unix_s))];
    return pue_model.pue(temp, it_load_fraction);
}

double Site::price_at(double hour_unix_s) const {
    switch (price_kind) {
        case PriceKind::constant:
            return constant_price_usd_per_kwh;
        case PriceKind::tariff: {
            const auto local = twin::unix_to_local(clock, static_cast<std::int64_t>(std::floor(hour_unix_s)));
            const std::int64_t second_of_day =
                ((local % twin::kSecondsPerDay) + twin::kSecondsPerDay) % twin::kSecondsPerDay;
            return tariff.price_usd_per_kwh(static_cast<int>(second_of_day / twin::kSecondsPerHour));
        }
        case PriceKind::series:
            return price_usd_per_kwh_series
                .values()[static_cast<std::size_t>(index_of(price_usd_per_kwh_series, hour_unix_s))];
    }
    return 0;
}

bool Site::covers(double hour_unix_s) const {
    if (index_of(carbon_g_per_kwh, hour_unix_s) < 0) return false;
    if (!constant_pue && index_of(outside_temp_c, hour_unix_s) < 0) return false;
    if (price_kind == PriceKind::series && index_of(price_usd_per_kwh_series, hour_unix_s) < 0) return false;
    return true;
}

const Site* SiteSet::find(std::string_view name) const {
    const auto it = std::find_if(sites.begin(), sites.end(), [&](const Site& s) { return s.name == name; });
    return it == sites.end() ? nullptr : &*it;
}

core::Result<SiteSet> parse_sites(std::string_view text, bool toml, const std::string& source_name,
                                  const std::filesystem::path& base_dir,
                                  const std::filesystem::path& data_dir) {
    json document;
    LineMap lines;
    if (toml) {
        try {
            const toml::table table = toml::parse(text, source_name);
            document = toml_to_json(table, "", lines);
        } catch (const toml::parse_error& e) {
            return core::fail(fmt::format("{}:{}: {}", source_name, e.source().begin.line, e.description()));
        }
    } else {
        try {
            document = json::parse(text);
        } catch (const json::parse_error& e) {
            return core::fail(fmt::format("{}: not valid JSON: {}", source_name, e.what()));
        }
    }
    SitesBuilder builder(source_name, toml ? &lines : nullptr, base_dir, data_dir);
    return builder.build(document);
}

core::Result<SiteSet> read_sites(const std::filesystem::path& path, const std::filesystem::path& data_dir) {
    const std::string extension = lower(path.extension().string());
    if (extension != ".json" && extension != ".toml") {
        return core::fail(fmt::format("{}: unknown sites file type '{}' (expected .json or .toml)",
                                      path.string(), extension));
    }
    std::ifstream in(path);
    if (!in) return core::fail(fmt::format("{}: cannot open", path.string()));
    std::stringstream text;
    text << in.rdbuf();
    return parse_sites(text.str(), extension == ".toml", path.string(), path.parent_path(), data_dir);
}

core::Result<twin::HourlySeries> read_hourly_csv(const std::filesystem::path& path,
                                                 std::string_view time_column,
                                                 std::string_view value_column) {
    auto reader = core::CsvReader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    std::vector<std::string> header;
    if (!reader->next(header)) return core::fail(fmt::format("{}: empty file", reader->name()));
    if (!header.empty() && header.front().starts_with("\xef\xbb\xbf")) header.front().erase(0, 3);
    const auto column = [&](std::string_view name) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < header.size(); ++i) {
            if (header[i] == name) return i;
        }
        return std::nullopt;
    };
    const auto time_index = column(time_column);
    const auto value_index = column(value_column);
    if (!time_index || !value_index) {
        return tl::unexpected(
            reader->error(fmt::format("missing column '{}'", time_index ? value_column : time_column)));
    }
    std::vector<double> values;
    std::int64_t first = 0;
    std::int64_t previous = 0;
    std::vector<std::string> fields;
    while (reader->next(fields)) {
        if (fields.size() != header.size()) {
            return tl::unexpected(
                reader->error(fmt::format("expected {} fields, found {}", header.size(), fields.size())));
        }
        const auto time = twin::parse_naive_datetime(fields[*time_index]);
        if (!time || *time % twin::kSecondsPerHour != 0) {
            return tl::unexpected(reader->error(
                fmt::format("'{}' is not a UTC hour (YYYY-MM-DD HH:00:00)", fields[*time_index])));
        }
        if (values.empty()) {
            first = *time;
        } else if (*time <= previous) {
            return tl::unexpected(
                reader->error(fmt::format("hour {} repeats or goes back in time", fields[*time_index])));
        } else if (*time != previous + twin::kSecondsPerHour) {
            return tl::unexpected(
                reader->error(fmt::format("missing hour {} (rows must be consecutive UTC hours)",
                                          twin::format_naive_datetime(previous + twin::kSecondsPerHour))));
        }
        const auto value = core::parse_double(fields[*value_index]);
        if (!value) {
            return tl::unexpected(reader->error(
                fmt::format("'{}' in column '{}' is not a number", fields[*value_index], value_column)));
        }
        values.push_back(*value);
        previous = *time;
    }
    if (values.empty()) return core::fail(fmt::format("{}: no data rows", reader->name()));
    return twin::HourlySeries(static_cast<double>(first), std::move(values));
}

}  // namespace joulepilot::sched
