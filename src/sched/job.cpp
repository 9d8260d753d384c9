#include "sched/job.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/civil_time.hpp"
#include "core/csv.hpp"
#include "sched/yaml_json.hpp"

namespace joulepilot::sched {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 13> kJobFields = {"id",
                                                         "gpus",
                                                         "duration_h",
                                                         "energy_kwh",
                                                         "power_w",
                                                         "earliest_start",
                                                         "deadline",
                                                         "slack_h",
                                                         "due",
                                                         "interruptible",
                                                         "checkpoint_overhead_s",
                                                         "sites",
                                                         "comment"};

bool known_field(std::string_view name) {
    return std::find(kJobFields.begin(), kJobFields.end(), name) != kJobFields.end();
}

// One job object (from JSON, or a CSV row turned into JSON) -> Job. `where` prefixes every error.
class JobBuilder {
public:
    JobBuilder(const json& object, std::string where) : m_object(object), m_where(std::move(where)) {}

    core::Result<Job> build() {
        for (const auto& [key, value] : m_object.items()) {
            if (!known_field(key)) {
                return error(key, fmt::format("unknown field (known: {})", fmt::join(kJobFields, ", ")));
            }
        }
        Job job;
        job.source = m_where;
        const json* id = find("id");
        if (id == nullptr || !id->is_string() || id->get<std::string>().empty()) {
            return error("id", "missing or not a non-empty string");
        }
        job.id = id->get<std::string>();

        auto gpus = integer("gpus", 1);
        if (!gpus) return tl::unexpected(gpus.error());
        job.gpus = *gpus;

        auto duration_h = positive_number("duration_h");
        if (!duration_h) return tl::unexpected(duration_h.error());
        auto energy_kwh = positive_number("energy_kwh");
        if (!energy_kwh) return tl::unexpected(energy_kwh.error());
        auto power_w = positive_number("power_w");
        if (!power_w) return tl::unexpected(power_w.error());
        const int given = static_cast<int>(duration_h->has_value()) +
                          static_cast<int>(energy_kwh->has_value()) + static_cast<int>(power_w->has_value());
        if (given != 2) {
            return error(
                "duration_h",
                "give exactly two of duration_h, energy_kwh and power_w (the third follows from them)");
        }
        if (duration_h->has_value() && power_w->has_value()) {
            job.duration = core::Seconds(**duration_h * 3600);
            job.power = core::Watts(**power_w);
        } else if (energy_kwh->has_value() && power_w->has_value()) {
            job.power = core::Watts(**power_w);
            job.duration = core::from_kwh(**energy_kwh) / job.power;
        } else {
            job.duration = core::Seconds(**duration_h * 3600);
            job.power = core::from_kwh(**energy_kwh) / job.duration;
        }

        auto earliest = time("earliest_start");
        if (!earliest) return tl::unexpected(earliest.error());
        job.earliest_start_unix_s = *earliest;
        auto deadline = time("deadline");
        if (!deadline) return tl::unexpected(deadline.error());
        job.deadline_unix_s = *deadline;
        auto slack_h = non_negative_number("slack_h");
        if (!slack_h) return tl::unexpected(slack_h.error());
        if (slack_h->has_value()) job.slack = core::Seconds(**slack_h * 3600);
        if (job.deadline_unix_s.has_value() == job.slack.has_value()) {
            return error("deadline", "give exactly one of deadline and slack_h");
        }
        if (job.deadline_unix_s && job.earliest_start_unix_s &&
            *job.deadline_unix_s <= *job.earliest_start_unix_s) {
            return error("deadline", "is not after earliest_start");
        }
        auto due = time("due");
        if (!due) return tl::unexpected(due.error());
        job.due_unix_s = *due;

        if (const json* flag = find("interruptible")) {
            if (!flag->is_boolean()) return error("interruptible", "not true or false");
            job.interruptible = flag->get<bool>();
        }
        auto overhead = non_negative_number("checkpoint_overhead_s");
        if (!overhead) return tl::unexpected(overhead.error());
        if (overhead->has_value()) {
            if (!job.interruptible) {
                return error("checkpoint_overhead_s", "given for a job that is not interruptible");
            }
            job.checkpoint_overhead = core::Seconds(**overhead);
            // An overhead of an hour or more would eat every one-hour piece: the job cannot progress.
            if (job.checkpoint_overhead.value() >= 3600) {
                return error("checkpoint_overhead_s", "must be below 3600 (one slot)");
            }
        }

        if (const json* sites = find("sites")) {
            if (!sites->is_array()) return error("sites", "not a list of site names");
            std::set<std::string> seen;
            for (const json& site : *sites) {
                if (!site.is_string() || site.get<std::string>().empty()) {
                    return error("sites", "holds something that is not a site name");
                }
                if (!seen.insert(site.get<std::string>()).second) {
                    return error("sites", fmt::format("names '{}' twice", site.get<std::string>()));
                }
                job.sites.push_back(site.get<std::string>());
            }
        }
        return job;
    }

private:
    [[nodiscard]] const json* find(std::string_view key) const {
        const auto it = m_object.find(std::string(key));
        return it == m_object.end() || it->is_null() ? nullptr : &*it;
    }

    [[nodiscard]] tl::unexpected<core::Error> error(std::string_view field, const std::string& what) const {
        return core::fail(fmt::format("{}: field '{}': {}", m_where, field, what));
    }

    core::Result<int> integer(std::string_view key, int min) {
        const json* value = find(key);
        if (value == nullptr) return error(key, "missing");
        if (!value->is_number()) return error(key, "not a number");
        const double number = value->get<double>();
        if (number != std::floor(number) || number < min || number > 1e6) {
            return error(key, fmt::format("{} is not a whole number of at least {}", number, min));
        }
        return static_cast<int>(number);
    }

    core::Result<std::optional<double>> number(std::string_view key, double min, bool open) {
        const json* value = find(key);
        if (value == nullptr) return std::optional<double>();
        if (!value->is_number()) return error(key, "not a number");
        const double number = value->get<double>();
        if (!std::isfinite(number) || number < min || (open && number == min)) {
            return error(key, fmt::format("{} must be {} {}", number, open ? "above" : "at least", min));
        }
        return std::optional<double>(number);
    }
    core::Result<std::optional<double>> positive_number(std::string_view key) { return number(key, 0, true); }
    core::Result<std::optional<double>> non_negative_number(std::string_view key) {
        return number(key, 0, false);
    }

    // A UTC timestamp string ("2023-06-01T08:00Z") or Unix seconds.
    core::Result<std::optional<double>> time(std::string_view key) {
        const json* value = find(key);
        if (value == nullptr) return std::optional<double>();
        if (value->is_number()) return std::optional<double>(value->get<double>());
        if (!value->is_string()) return error(key, "not a UTC time");
        auto parsed = core::parse_utc_timestamp(value->get<std::string>());
        if (!parsed) return error(key, parsed.error().message);
        return std::optional<double>(*parsed);
    }

    const json& m_object;
    std::string m_where;
};

core::Result<std::vector<Job>> check_unique(std::vector<Job> jobs) {
    std::set<std::string> ids;
    for (const Job& job : jobs) {
        if (!ids.insert(job.id).second) {
            return core::fail(
                fmt::format("{}: field 'id': '{}' is used by an earlier job", job.source, job.id));
        }
    }
    return jobs;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

}  // namespace

namespace {

// The JSON shape of a job file (a list, or {"jobs": [...]}), whichever format it was read from.
core::Result<std::vector<Job>> jobs_of_document(const json& document, const std::string& source_name) {
    const json* list = &document;
    std::string prefix;
    if (document.is_object()) {
        const auto it = document.find("jobs");
        if (it == document.end() || document.size() != 1) {
            return core::fail(
                fmt::format("{}: expected a list of jobs or an object with only \"jobs\"", source_name));
        }
        list = &*it;
        prefix = "jobs";
    }
    if (!list->is_array()) return core::fail(fmt::format("{}: \"jobs\" is not a list", source_name));
    std::vector<Job> jobs;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const json& entry = (*list)[i];
        std::string where = fmt::format("{}: {}[{}]", source_name, prefix, i);
        if (!entry.is_object()) return core::fail(where + ": not an object");
        if (const auto id = entry.find("id"); id != entry.end() && id->is_string()) {
            where += fmt::format(" (id '{}')", id->get<std::string>());
        }
        auto job = JobBuilder(entry, where).build();
        if (!job) return tl::unexpected(job.error());
        jobs.push_back(std::move(*job));
    }
    return check_unique(std::move(jobs));
}

}  // namespace

core::Result<std::vector<Job>> parse_jobs_json(std::string_view text, const std::string& source_name) {
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& e) {
        return core::fail(fmt::format("{}: not valid JSON: {}", source_name, e.what()));
    }
    return jobs_of_document(document, source_name);
}

core::Result<std::vector<Job>> parse_jobs_yaml(std::string_view text, const std::string& source_name) {
    auto document = parse_yaml_as_json(text, source_name);
    if (!document) return tl::unexpected(document.error());
    return jobs_of_document(*document, source_name);
}

core::Result<std::vector<Job>> read_jobs_csv(const std::filesystem::path& path) {
    auto reader = core::CsvReader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    std::vector<std::string> header;
    if (!reader->next(header))
        return core::fail(fmt::format("{}: empty file (expected a header)", reader->name()));
    if (!header.empty() && header.front().starts_with("\xef\xbb\xbf")) header.front().erase(0, 3);
    for (std::string& column : header) {
        column.erase(0, column.find_first_not_of(' '));
        column.erase(column.find_last_not_of(' ') + 1);
        if (!known_field(column)) {
            return tl::unexpected(reader->error(
                fmt::format("unknown column '{}' (known: {})", column, fmt::join(kJobFields, ", "))));
        }
    }
    std::vector<Job> jobs;
    std::vector<std::string> fields;
    while (reader->next(fields)) {
        if (fields.size() != header.size()) {
            return tl::unexpected(
                reader->error(fmt::format("expected {} fields, found {}", header.size(), fields.size())));
        }
        // Turn the row into the JSON shape of a job so both formats share one set of checks.
        json object = json::object();
        for (std::size_t c = 0; c < header.size(); ++c) {
            std::string text = fields[c];
            text.erase(0, text.find_first_not_of(' '));
            text.erase(text.find_last_not_of(' ') + 1);
            if (text.empty()) continue;
            const std::string& column = header[c];
            if (column == "id" || column == "comment") {
                object[column] = text;
            } else if (column == "earliest_start" || column == "deadline" || column == "due") {
                object[column] = text;
            } else if (column == "interruptible") {
                const std::string flag = lower(text);
                if (flag == "true" || flag == "yes" || flag == "1") {
                    object[column] = true;
                } else if (flag == "false" || flag == "no" || flag == "0") {
                    object[column] = false;
                } else {
                    return tl::unexpected(
                        reader->error(fmt::format("column '{}': '{}' is not true or false", column, text)));
                }
            } else if (column == "sites") {
                // Several sites share one cell, separated by ';' (a ',' would need quoting).
                json sites = json::array();
                std::stringstream list(text);
                std::string site;
                while (std::getline(list, site, ';')) {
                    site.erase(0, site.find_first_not_of(' '));
                    site.erase(site.find_last_not_of(' ') + 1);
                    sites.push_back(site);
                }
                object[column] = sites;
            } else {
                const auto number = core::parse_double(text);
                if (!number) {
                    return tl::unexpected(
                        reader->error(fmt::format("column '{}': '{}' is not a number", column, text)));
                }
                object[column] = *number;
            }
        }
        std::string where = fmt::format("{}:{}", reader->name(), reader->line());
        if (object.contains("id")) where += fmt::format(" (id '{}')", object["id"].get<std::string>());
        auto job = JobBuilder(object, where).build();
        if (!job) return tl::unexpected(job.error());
        jobs.push_back(std::move(*job));
    }
    return check_unique(std::move(jobs));
}

core::Result<std::vector<Job>> read_jobs(const std::filesystem::path& path) {
    const std::string extension = lower(path.extension().string());
    if (extension == ".csv") return read_jobs_csv(path);
    const bool yaml = extension == ".yaml" || extension == ".yml";
    if (extension == ".json" || yaml) {
        std::ifstream in(path);
        if (!in) return core::fail(fmt::format("{}: cannot open", path.string()));
        std::stringstream text;
        text << in.rdbuf();
        return yaml ? parse_jobs_yaml(text.str(), path.string()) : parse_jobs_json(text.str(), path.string());
    }
    return core::fail(fmt::format("{}: unknown job file type '{}' (expected .json, .yaml, .yml or .csv)",
                                  path.string(), extension));
}

}  // namespace joulepilot::sched
