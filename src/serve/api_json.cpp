#include "serve/api_json.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace joulepilot::serve {

using nlohmann::json;

int http_status(ErrorCode code) {
    switch (code) {
        case ErrorCode::bad_request:
            return 400;
        case ErrorCode::validation_failed:
            return 422;
        case ErrorCode::unauthorized:
            return 401;
        case ErrorCode::forbidden:
            return 403;
        case ErrorCode::not_found:
            return 404;
        case ErrorCode::method_not_allowed:
            return 405;
        case ErrorCode::conflict:
            return 409;
        case ErrorCode::payload_too_large:
            return 413;
        case ErrorCode::unavailable:
            return 503;
        case ErrorCode::internal:
            return 500;
    }
    return 500;
}

std::string_view to_string(ErrorCode code) {
    switch (code) {
        case ErrorCode::bad_request:
            return "bad_request";
        case ErrorCode::validation_failed:
            return "validation_failed";
        case ErrorCode::unauthorized:
            return "unauthorized";
        case ErrorCode::forbidden:
            return "forbidden";
        case ErrorCode::not_found:
            return "not_found";
        case ErrorCode::method_not_allowed:
            return "method_not_allowed";
        case ErrorCode::conflict:
            return "conflict";
        case ErrorCode::payload_too_large:
            return "payload_too_large";
        case ErrorCode::unavailable:
            return "unavailable";
        case ErrorCode::internal:
            return "internal";
    }
    return "internal";
}

json error_json(const ApiError& error) {
    json body = {{"code", to_string(error.code)}, {"message", error.message}};
    if (!error.details.empty()) body["details"] = error.details;
    return json{{"error", std::move(body)}};
}

namespace {

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json settings_json(const std::vector<KnobSettingValue>& settings) {
    json out = json::array();
    for (const auto& s : settings) out.push_back({{"knob", s.knob}, {"value", s.value}});
    return out;
}

}  // namespace

json to_json(const AgentStatus& s) {
    json knobs = json::array();
    for (const KnobValue& k : s.knobs) {
        knobs.push_back({{"name", k.name},
                         {"unit", k.unit},
                         {"value", k.value},
                         {"default", k.default_value},
                         {"min", k.min},
                         {"max", k.max},
                         {"disabled", k.disabled},
                         {"disabled_reason", k.disabled ? json(k.disabled_reason) : json(nullptr)}});
    }
    const EfficiencyStats& e = s.efficiency;
    return json{
        {"version", s.version},
        {"world", s.world},
        {"policy", s.policy},
        {"shield_mode", s.shield_mode},
        {"started_at", s.started_at.value()},
        {"now", s.now.value()},
        {"uptime_seconds", s.uptime.value()},
        {"sense_interval_seconds", s.sense_interval.value()},
        {"decide_interval_seconds", s.decide_interval.value()},
        {"ticks", s.ticks},
        {"tick_deadline_misses", s.tick_deadline_misses},
        {"last_tick", s.last_tick ? json(s.last_tick->value()) : json(nullptr)},
        {"last_tick_duration_seconds", s.last_tick_duration.value()},
        {"decisions", s.decisions},
        {"rollbacks", s.rollbacks},
        {"actions_by_outcome", s.actions_by_outcome},
        {"sensor_errors", s.sensor_errors},
        {"signals", s.signals},
        {"signals_missing", s.signals_missing},
        {"ledger",
         {{"enabled", s.ledger.enabled},
          {"written", s.ledger.written},
          {"dropped", s.ledger.dropped},
          {"write_errors", s.ledger.write_errors},
          {"queue_depth", s.ledger.queue_depth},
          {"queue_capacity", s.ledger.queue_capacity},
          {"last_error", s.ledger.last_error.empty() ? json(nullptr) : json(s.ledger.last_error)}}},
        {"knobs", std::move(knobs)},
        {"efficiency",
         {{"energy_per_token_joules", optional_number(e.energy_per_token_joules)},
          {"energy_per_request_joules", optional_number(e.energy_per_request_joules)},
          {"tokens_per_joule", optional_number(e.tokens_per_joule)},
          {"provenance", e.provenance},
          {"estimated_savings_joules_total", optional_number(e.estimated_savings_joules_total)},
          {"estimated_savings_ratio", optional_number(e.estimated_savings_ratio)}}},
    };
}

json to_json(const LatestObservation& latest) {
    json signals = json::array();
    for (const SignalValue& s : latest.signals) {
        signals.push_back({{"name", s.name},
                           {"unit", s.unit},
                           {"provenance", s.provenance},
                           {"value", optional_number(s.value)},
                           {"missing", !s.value.has_value()}});
    }
    return json{{"time", latest.time ? json(latest.time->value()) : json(nullptr)},
                {"signals", std::move(signals)}};
}

json to_json(const ObservationHistory& history) {
    json series = json::array();
    for (const ObservationSeries& s : history.series) {
        json points = json::array();
        for (const ObservationPoint& p : s.points)
            points.push_back(json::array({p.time.value(), optional_number(p.value)}));
        series.push_back({{"signal", s.signal},
                          {"unit", s.unit},
                          {"provenance", s.provenance},
                          {"truncated", s.truncated},
                          {"points", std::move(points)}});
    }
    return json{{"source", history.source},
                {"oldest_available",
                 history.oldest_available ? json(history.oldest_available->value()) : json(nullptr)},
                {"series", std::move(series)}};
}

json to_json(const DecisionRecord& d) {
    return json{{"id", d.id},
                {"time", d.time.value()},
                {"policy", d.policy},
                {"trigger", d.trigger},
                {"settings", settings_json(d.settings)},
                {"rationale", d.rationale},
                {"predicted",
                 {{"power_watts", optional_number(d.predicted_power_watts)},
                  {"p99_ttft_seconds", optional_number(d.predicted_p99_ttft_seconds)},
                  {"p99_tpot_seconds", optional_number(d.predicted_p99_tpot_seconds)}}}};
}

json to_json(const ActionRecord& a) {
    return json{{"id", a.id},
                {"decision_id", a.decision_id == 0 ? json(nullptr) : json(a.decision_id)},
                {"time", a.time.value()},
                {"kind", a.kind},
                {"shield_mode", a.shield_mode},
                {"knob", a.knob},
                {"requested", a.requested},
                {"before", a.before},
                {"after", a.after},
                {"outcome", a.outcome},
                {"reason", a.reason}};
}

namespace {
json actions_json(const std::vector<ActionRecord>& actions) {
    json out = json::array();
    for (const auto& a : actions) out.push_back(to_json(a));
    return out;
}
}  // namespace

json to_json(const OptimizeResult& r) {
    return json{{"command_id", r.command_id},
                {"decision", to_json(r.decision)},
                {"actions", actions_json(r.actions)}};
}

json to_json(const RollbackResult& r) {
    return json{{"command_id", r.command_id}, {"message", r.message}, {"actions", actions_json(r.actions)}};
}

json to_json(const PolicyInfo& p) {
    return json{{"name", p.name}, {"params", p.params}, {"available", p.available}};
}

json to_json(const RequestsAccepted& a) {
    return json{{"accepted", a.accepted}, {"duplicates", a.duplicates}};
}

json to_json(const RequestRecord& r) {
    return json{{"id", r.id},
                {"start", r.start.value()},
                {"end", r.end.value()},
                {"input_tokens", r.input_tokens},
                {"output_tokens", r.output_tokens},
                {"model", r.model},
                {"gpu", r.gpus.size() == 1 ? json(r.gpus.front()) : json(r.gpus)}};
}

json to_json(const RequestEnergy& e) {
    return json{{"request", to_json(e.request)},
                {"status", e.status},
                {"energy_joules", optional_number(e.energy_joules)},
                {"joules_per_token", optional_number(e.joules_per_token)},
                {"grams_co2", optional_number(e.grams_co2)},
                {"provenance", e.provenance}};
}

json to_json(const ModelEnergy& m) {
    return json{{"model", m.model},
                {"requests", m.requests},
                {"input_tokens", m.input_tokens},
                {"output_tokens", m.output_tokens},
                {"energy_joules", m.energy_joules},
                {"joules_per_token", optional_number(m.joules_per_token)},
                {"joules_per_request", optional_number(m.joules_per_request)},
                {"grams_co2", optional_number(m.grams_co2)},
                {"provenance", m.provenance}};
}

// ---- parsing ----

namespace {

std::string_view type_name(const json& value) {
    switch (value.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "an object";
        case json::value_t::array:
            return "an array";
        case json::value_t::string:
            return "a string";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a number with a fraction";
        default:
            return "a value of another type";
    }
}

// Collects every problem of one body, each prefixed with the field's path.
class Problems {
public:
    void add(const std::string& where, const std::string& what) { m_list.push_back(where + ": " + what); }
    [[nodiscard]] bool empty() const { return m_list.empty(); }
    [[nodiscard]] std::vector<std::string> take() { return std::move(m_list); }

private:
    std::vector<std::string> m_list;
};

constexpr std::uint64_t kMaxTokens = 1'000'000'000;
constexpr double kMaxRequestSeconds = 7 * 86400.0;
constexpr int kMaxGpuIndex = 1023;

std::optional<double> read_time(const json& value, const std::string& where, Problems& problems) {
    if (!value.is_number()) {
        problems.add(
            where, fmt::format("must be a number (seconds on the agent's clock, Unix time on a node), got {}",
                               type_name(value)));
        return std::nullopt;
    }
    const double t = value.get<double>();
    if (!std::isfinite(t) || t < 0) {
        problems.add(where, "must be a finite number >= 0");
        return std::nullopt;
    }
    return t;
}

std::optional<std::uint64_t> read_tokens(const json& value, const std::string& where, Problems& problems) {
    if (value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
        const auto n = value.get<std::uint64_t>();
        if (n <= kMaxTokens) return n;
        problems.add(where, fmt::format("{} is more than {} tokens", n, kMaxTokens));
        return std::nullopt;
    }
    problems.add(where, fmt::format("must be an integer >= 0, got {}",
                                    value.is_number_integer() ? "a negative integer" : type_name(value)));
    return std::nullopt;
}

std::optional<int> read_gpu_index(const json& value, const std::string& where, Problems& problems) {
    if ((value.is_number_unsigned() || value.is_number_integer()) && value.get<std::int64_t>() >= 0 &&
        value.get<std::int64_t>() <= kMaxGpuIndex) {
        return static_cast<int>(value.get<std::int64_t>());
    }
    problems.add(where, fmt::format("must be a GPU index, an integer 0..{}, got {}", kMaxGpuIndex,
                                    value.is_number() ? value.dump() : std::string(type_name(value))));
    return std::nullopt;
}

std::optional<std::string> read_string(const json& value, const std::string& where, std::size_t max_length,
                                       Problems& problems) {
    if (!value.is_string()) {
        problems.add(where, fmt::format("must be a string, got {}", type_name(value)));
        return std::nullopt;
    }
    auto text = value.get<std::string>();
    if (text.empty() || text.size() > max_length) {
        problems.add(where, fmt::format("must be 1..{} characters long", max_length));
        return std::nullopt;
    }
    for (const char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            problems.add(where, "must not contain control characters");
            return std::nullopt;
        }
    }
    return text;
}

constexpr std::array<std::string_view, 7> kRecordFields = {
    "id", "start", "end", "input_tokens", "output_tokens", "model", "gpu"};

std::optional<RequestRecord> parse_record(const json& item, const std::string& prefix, Problems& problems) {
    const std::string at = prefix.empty() ? "" : prefix + ".";
    if (!item.is_object()) {
        problems.add(
            prefix.empty() ? "body" : prefix,
            fmt::format("a request record must be an object {{id, start, end, input_tokens, output_tokens, "
                        "model, gpu}}, got {}",
                        type_name(item)));
        return std::nullopt;
    }
    for (const auto& [key, value] : item.items()) {
        if (std::find(kRecordFields.begin(), kRecordFields.end(), key) == kRecordFields.end()) {
            problems.add(
                at + key,
                "unknown field; a record has id, start, end, input_tokens, output_tokens, model, gpu");
        }
    }
    for (const std::string_view field : kRecordFields) {
        if (!item.contains(field)) problems.add(at + std::string(field), "missing (required)");
    }
    RequestRecord record;
    bool ok = true;
    const auto need = [&](auto&& optional_value, auto& target) {
        if (optional_value) {
            target = *optional_value;
        } else {
            ok = false;
        }
    };
    if (item.contains("id")) {
        auto id = read_string(item["id"], at + "id", kMaxIdLength, problems);
        if (id && !valid_request_id(*id)) {
            problems.add(at + "id", "may use only letters, digits and . _ : @ - (it appears in URLs)");
            id.reset();
        }
        need(id, record.id);
    }
    std::optional<double> start;
    std::optional<double> end;
    if (item.contains("start")) start = read_time(item["start"], at + "start", problems);
    if (item.contains("end")) end = read_time(item["end"], at + "end", problems);
    if (start && end) {
        if (*end < *start) {
            problems.add(at + "end",
                         fmt::format("{} is before start {}; end must be >= start", *end, *start));
            ok = false;
        } else if (*end - *start > kMaxRequestSeconds) {
            problems.add(at + "end",
                         fmt::format("the request lasts {} s, more than 7 days; are start and end both "
                                     "in seconds?",
                                     *end - *start));
            ok = false;
        }
        record.start = core::Seconds(*start);
        record.end = core::Seconds(*end);
    } else {
        ok = false;
    }
    if (item.contains("input_tokens"))
        need(read_tokens(item["input_tokens"], at + "input_tokens", problems), record.input_tokens);
    if (item.contains("output_tokens")) {
        need(read_tokens(item["output_tokens"], at + "output_tokens", problems), record.output_tokens);
    }
    if (item.contains("model"))
        need(read_string(item["model"], at + "model", kMaxModelLength, problems), record.model);
    if (item.contains("gpu")) {
        const json& gpu = item["gpu"];
        if (gpu.is_array()) {
            if (gpu.empty()) problems.add(at + "gpu", "an empty list; give at least one GPU index");
            std::set<int> seen;
            for (std::size_t i = 0; i < gpu.size(); ++i) {
                const auto index = read_gpu_index(gpu[i], fmt::format("{}gpu[{}]", at, i), problems);
                if (!index) continue;
                if (!seen.insert(*index).second) {
                    problems.add(fmt::format("{}gpu[{}]", at, i), fmt::format("GPU {} listed twice", *index));
                    continue;
                }
                record.gpus.push_back(*index);
            }
            if (record.gpus.size() != gpu.size()) ok = false;
        } else {
            const auto index = read_gpu_index(gpu, at + "gpu", problems);
            if (index) {
                record.gpus.push_back(*index);
            } else {
                ok = false;
            }
        }
    }
    if (!ok) return std::nullopt;
    return record;
}

}  // namespace

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdLength) return false;
    for (const char c : id) {
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '_' && c != ':' && c != '@' && c != '-') return false;
    }
    return true;
}

ApiResult<std::vector<RequestRecord>> parse_request_records(const json& body) {
    Problems problems;
    std::vector<RequestRecord> records;
    if (body.is_array()) {
        if (body.empty()) {
            return api_fail(ErrorCode::validation_failed,
                            "the body is an empty array; post at least one record");
        }
        if (body.size() > kMaxRecordsPerPost) {
            return api_fail(ErrorCode::validation_failed,
                            fmt::format("{} records in one post; send at most {} per request", body.size(),
                                        kMaxRecordsPerPost));
        }
        records.reserve(body.size());
        std::set<std::string> ids;
        for (std::size_t i = 0; i < body.size(); ++i) {
            const std::string where = fmt::format("[{}]", i);
            if (auto record = parse_record(body[i], where, problems)) {
                if (!ids.insert(record->id).second) {
                    problems.add(where + ".id", fmt::format("'{}' appears twice in this post", record->id));
                    continue;
                }
                records.push_back(std::move(*record));
            }
        }
    } else {
        if (auto record = parse_record(body, "", problems)) records.push_back(std::move(*record));
    }
    if (!problems.empty()) {
        auto details = problems.take();
        const std::size_t count = details.size();
        // The message is built before `details` moves into the error (argument order is unspecified).
        std::string message =
            fmt::format("{} invalid field{} in the request records (nothing was recorded): {}{}", count,
                        count == 1 ? "" : "s", details.front(), count > 1 ? "; see details" : "");
        return api_fail(ErrorCode::validation_failed, std::move(message), std::move(details));
    }
    return records;
}

ApiResult<PolicySpec> parse_policy_spec(const json& body) {
    Problems problems;
    if (!body.is_object()) {
        return api_fail(
            ErrorCode::validation_failed,
            fmt::format("the body must be an object {{\"name\": \"...\", \"params\": {{...}}}}, got {}",
                        type_name(body)));
    }
    PolicySpec spec;
    for (const auto& [key, value] : body.items()) {
        if (key == "name") {
            if (auto name = read_string(value, "name", 64, problems)) spec.name = *name;
        } else if (key == "params") {
            if (value.is_object()) {
                spec.params = value;
            } else {
                problems.add("params",
                             fmt::format("must be an object of the policy's keys, got {}", type_name(value)));
            }
        } else {
            problems.add(key, "unknown field; the body has `name` and optionally `params`");
        }
    }
    if (!body.contains("name"))
        problems.add("name", "missing (required): the policy to run, e.g. \"threshold\"");
    if (!problems.empty()) {
        auto details = problems.take();
        std::string message =
            fmt::format("invalid policy: {}{}", details.front(), details.size() > 1 ? "; see details" : "");
        return api_fail(ErrorCode::validation_failed, std::move(message), std::move(details));
    }
    return spec;
}

}  // namespace joulepilot::serve
