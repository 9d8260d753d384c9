// Reader of Electricity Maps hourly CSV exports (load_carbon_intensity_csv in facility_model.hpp).
// The export has one row per UTC hour; the twin needs the direct (operational) intensity, because the
// facility's emissions are those of the electricity it draws, not the life-cycle of the plants.

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/csv.hpp"
#include "twin/facility/civil_time.hpp"
#include "twin/facility/facility_model.hpp"

namespace joulepilot::twin {

namespace {

constexpr std::string_view kTimeColumn = "Datetime (UTC)";
// The header spells CO2 with a Unicode subscript two (U+2082, UTF-8 e2 82 82).
constexpr std::string_view kIntensityColumn =
    "Carbon Intensity gCO\xe2\x82\x82"
    "eq/kWh (direct)";

std::optional<std::size_t> find_column(const std::vector<std::string>& header, std::string_view name) {
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == name) return i;
    }
    return std::nullopt;
}

}  // namespace

core::Result<HourlySeries> load_carbon_intensity_csv(const std::filesystem::path& path) {
    auto reader = core::CsvReader::open(path);
    if (!reader) return tl::unexpected(reader.error());

    std::vector<std::string> header;
    if (!reader->next(header)) {
        return core::fail(fmt::format("{}: empty file (expected a header with '{}' and '{}')", reader->name(),
                                      kTimeColumn, kIntensityColumn));
    }
    // Some spreadsheet tools prepend a UTF-8 byte-order mark to the first field.
    if (header.front().starts_with("\xef\xbb\xbf")) header.front().erase(0, 3);
    const auto time_column = find_column(header, kTimeColumn);
    const auto intensity_column = find_column(header, kIntensityColumn);
    if (!time_column || !intensity_column) {
        return tl::unexpected(
            reader->error(fmt::format("missing column '{}'", time_column ? kIntensityColumn : kTimeColumn)));
    }

    std::vector<double> values;
    values.reserve(8760);
    std::int64_t first_hour = 0;
    std::int64_t previous = 0;
    std::vector<std::string> fields;
    while (reader->next(fields)) {
        // Every row must be complete: a row cut short may still hold the two columns we read.
        if (fields.size() != header.size()) {
            return tl::unexpected(reader->error(
                fmt::format("expected {} fields, found {} (truncated row?)", header.size(), fields.size())));
        }
        const std::string& time_text = fields[*time_column];
        const auto time = parse_naive_datetime(time_text);
        if (!time) {
            return tl::unexpected(reader->error(fmt::format(
                "'{}' in column '{}' is not a YYYY-MM-DD HH:MM:SS time", time_text, kTimeColumn)));
        }
        if (*time % kSecondsPerHour != 0) {
            return tl::unexpected(reader->error(fmt::format("time {} is not on the hour", time_text)));
        }
        if (!values.empty()) {
            // Gaps and overlaps are reported, not filled: a silent fill would shift every later hour.
            if (*time <= previous) {
                return tl::unexpected(
                    reader->error(fmt::format("hour {} repeats or goes back in time (previous row: {})",
                                              time_text, format_naive_datetime(previous))));
            }
            if (*time != previous + kSecondsPerHour) {
                const std::int64_t missing = (*time - previous) / kSecondsPerHour - 1;
                const std::string first_missing = format_naive_datetime(previous + kSecondsPerHour);
                return tl::unexpected(reader->error(
                    missing == 1
                        ? fmt::format("missing hour {} (rows must be consecutive UTC hours)", first_missing)
                        : fmt::format("missing hours {} to {} ({} hours; rows must be consecutive UTC hours)",
                                      first_missing, format_naive_datetime(*time - kSecondsPerHour),
                                      missing)));
            }
        } else {
            first_hour = *time;
        }
        const std::string& intensity_text = fields[*intensity_column];
        const auto intensity = core::parse_double(intensity_text);
        if (!intensity) {
            return tl::unexpected(reader->error(
                fmt::format("'{}' in column '{}' is not a number", intensity_text, kIntensityColumn)));
        }
        if (*intensity < 0) {
            return tl::unexpected(reader->error(fmt::format("negative carbon intensity {}", *intensity)));
        }
        values.push_back(*intensity);
        previous = *time;
    }
    if (values.empty()) {
        return core::fail(fmt::format("{}: no data rows after the header", reader->name()));
    }
    return HourlySeries(static_cast<double>(first_hour), std::move(values));
}

}  // namespace joulepilot::twin
