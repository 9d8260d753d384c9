#include "twin/facility/weather.hpp"

#include <cstdint>
#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::twin {

namespace {

using nlohmann::json;

// Outside this range a value is a unit or data error (Kelvin, Fahrenheit, a sentinel), not weather.
constexpr double kMinPlausibleC = -100.0;
constexpr double kMaxPlausibleC = 70.0;

core::Result<json> read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        std::error_code ec;
        const bool exists = std::filesystem::exists(path, ec);
        return core::fail(fmt::format("{}: cannot open ({})", path.string(),
                                      exists ? "permission denied or not a file" : "no such file"));
    }
    try {
        return json::parse(in);
    } catch (const json::parse_error& e) {
        // e.what() names the line and column of the first bad byte.
        return core::fail(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
    }
}

// Converts the labels to Unix seconds per the rules in weather.hpp.
core::Result<std::vector<std::int64_t>> labels_to_unix(const std::string& file, const json& root,
                                                       const std::vector<std::int64_t>& local,
                                                       const ZoneClock& clock, LocalLabels& kind) {
    bool regular = true;
    for (std::size_t i = 1; i < local.size() && regular; ++i)
        regular = local[i] == local[i - 1] + kSecondsPerHour;

    std::vector<std::int64_t> unix_s(local.size());
    if (regular) {
        kind = LocalLabels::fixed_offset;
        const auto offset = root.find("utc_offset_seconds");
        if (offset == root.end() || !offset->is_number_integer()) {
            return core::fail(fmt::format("{}: missing integer 'utc_offset_seconds'", file));
        }
        const auto offset_s = offset->get<std::int64_t>();
        const bool standard = offset_s == clock.standard_offset_s;
        const bool daylight =
            clock.dst != DstRule::none && offset_s == clock.standard_offset_s + kSecondsPerHour;
        if (!standard && !daylight) {
            return core::fail(
                fmt::format("{}: utc_offset_seconds {} is neither the standard nor the daylight "
                            "offset of timezone '{}'",
                            file, offset_s, root["timezone"].get<std::string>()));
        }
        for (std::size_t i = 0; i < local.size(); ++i) unix_s[i] = local[i] - offset_s;
        return unix_s;
    }

    kind = LocalLabels::wall_clock;
    for (std::size_t i = 0; i < local.size(); ++i) {
        auto instant = local_to_unix(clock, local[i], RepeatedHour::earlier);
        if (!instant) {
            return core::fail(
                fmt::format("{}: hourly.time[{}]: {} does not exist in '{}' (the clock skips it "
                            "for daylight saving time)",
                            file, i, format_naive_datetime(local[i]), root["timezone"].get<std::string>()));
        }
        // The second pass through the repeated autumn hour comes after the first one.
        if (i > 0 && *instant <= unix_s[i - 1]) instant = local_to_unix(clock, local[i], RepeatedHour::later);
        unix_s[i] = *instant;
        if (i > 0 && unix_s[i] != unix_s[i - 1] + kSecondsPerHour) {
            return core::fail(
                fmt::format("{}: hourly.time[{}]: {} is not one hour after the previous entry {} "
                            "(gap or overlap in the local times)",
                            file, i, format_naive_datetime(local[i]), format_naive_datetime(local[i - 1])));
        }
    }
    return unix_s;
}

}  // namespace

core::Result<WeatherSeries> load_open_meteo_weather(const std::filesystem::path& path) {
    const std::string file = path.string();
    auto parsed = read_json(path);
    if (!parsed) return tl::unexpected(parsed.error());
    const json& root = *parsed;
    if (!root.is_object()) return core::fail(fmt::format("{}: expected a JSON object at the top", file));

    const auto timezone = root.find("timezone");
    if (timezone == root.end() || !timezone->is_string()) {
        return core::fail(fmt::format("{}: missing string 'timezone'", file));
    }
    const auto clock = zone_clock_for_iana(timezone->get<std::string>());
    if (!clock) {
        return core::fail(
            fmt::format("{}: timezone '{}' has no known DST rules (known: America/Los_Angeles, "
                        "America/Chicago, America/New_York, Europe/Berlin, Europe/London, UTC)",
                        file, timezone->get<std::string>()));
    }
    const auto hourly = root.find("hourly");
    if (hourly == root.end() || !hourly->is_object()) {
        return core::fail(fmt::format("{}: missing object 'hourly'", file));
    }
    const auto times = hourly->find("time");
    const auto temperatures = hourly->find("temperature_2m");
    if (times == hourly->end() || !times->is_array()) {
        return core::fail(fmt::format("{}: missing array 'hourly.time'", file));
    }
    if (temperatures == hourly->end() || !temperatures->is_array()) {
        return core::fail(fmt::format("{}: missing array 'hourly.temperature_2m'", file));
    }
    if (times->empty()) return core::fail(fmt::format("{}: 'hourly.time' is empty", file));
    if (times->size() != temperatures->size()) {
        return core::fail(fmt::format("{}: 'hourly.time' has {} entries but 'hourly.temperature_2m' has {}",
                                      file, times->size(), temperatures->size()));
    }

    std::vector<std::int64_t> local;
    std::vector<double> values;
    local.reserve(times->size());
    values.reserve(times->size());
    for (std::size_t i = 0; i < times->size(); ++i) {
        const json& label = (*times)[i];
        const auto seconds =
            label.is_string() ? parse_naive_datetime(label.get<std::string>()) : std::nullopt;
        if (!seconds) {
            return core::fail(
                fmt::format("{}: hourly.time[{}]: {} is not a YYYY-MM-DDTHH:MM time", file, i, label.dump()));
        }
        if (*seconds % kSecondsPerHour != 0) {
            return core::fail(
                fmt::format("{}: hourly.time[{}]: {} is not on the hour", file, i, label.dump()));
        }
        const json& value = (*temperatures)[i];
        // Open-Meteo writes null for a missing value; the model needs every hour.
        if (!value.is_number()) {
            return core::fail(fmt::format("{}: hourly.temperature_2m[{}] ({}): {} is not a number", file, i,
                                          label.get<std::string>(), value.dump()));
        }
        const auto celsius = value.get<double>();
        if (!(celsius >= kMinPlausibleC && celsius <= kMaxPlausibleC)) {
            return core::fail(
                fmt::format("{}: hourly.temperature_2m[{}] ({}): {} degC is not a plausible outside "
                            "temperature",
                            file, i, label.get<std::string>(), celsius));
        }
        local.push_back(*seconds);
        values.push_back(celsius);
    }

    WeatherSeries series;
    series.timezone = timezone->get<std::string>();
    series.clock = *clock;
    auto unix_s = labels_to_unix(file, root, local, *clock, series.labels);
    if (!unix_s) return tl::unexpected(unix_s.error());
    series.temperature_c = HourlySeries(static_cast<double>(unix_s->front()), std::move(values));
    return series;
}

core::Result<HourlySeries> load_outside_temperature(const std::filesystem::path& path) {
    auto weather = load_open_meteo_weather(path);
    if (!weather) return tl::unexpected(weather.error());
    return std::move(weather->temperature_c);
}

}  // namespace joulepilot::twin
