#pragma once
// The values the HTTP API serves and accepts, as plain structs (no JSON, no HTTP): what an AgentView
// returns and what the server hands it. api_json.hpp converts them to and from JSON. Values: copy them
// freely between threads.
//
// Times are seconds on the agent's clock: Unix seconds on a node, seconds since the start of the run in
// the twin world (AgentStatus::world says which). Physical values are SI (W, J, s); a value that could
// not be read is std::nullopt ("missing", served as null), never 0.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "core/units.hpp"

namespace joulepilot::serve {

// What went wrong, as the HTTP status family the server answers with (api_json.cpp maps each to its
// status and its JSON "code").
enum class ErrorCode : std::uint8_t {
    bad_request,         // 400: malformed JSON, unknown query parameter
    validation_failed,   // 422: well-formed, but a field has the wrong type, range or name
    unauthorized,        // 401: no or wrong bearer token
    forbidden,           // 403: mutating calls disabled (no token file configured)
    not_found,           // 404
    method_not_allowed,  // 405
    conflict,            // 409: e.g. a request id posted twice with different contents
    payload_too_large,   // 413
    unavailable,         // 503: the feature is not wired (no ledger) or the loop did not answer in time
    internal,            // 500
};

struct ApiError {
    ErrorCode code = ErrorCode::internal;
    std::string message;               // for people: what failed and what to do
    std::vector<std::string> details;  // one line per invalid field, when there are several
};

template <class T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> api_fail(ErrorCode code, std::string message,
                                         std::vector<std::string> details = {}) {
    return tl::unexpected<ApiError>(ApiError{code, std::move(message), std::move(details)});
}

// ---- status ----

struct LedgerStats {
    bool enabled = false;            // false: the agent runs without a ledger
    std::uint64_t written = 0;       // rows committed
    std::uint64_t dropped = 0;       // rows refused because the queue was full (back-pressure)
    std::uint64_t write_errors = 0;  // failed commits (disk full, locked database)
    std::uint64_t queue_depth = 0;   // rows waiting for the writer now
    std::uint64_t queue_capacity = 0;
    std::string last_error;  // empty when none
};

struct KnobValue {
    std::string name;  // "gpu.0.power_limit_watts"
    std::string unit;
    double value = 0;
    double default_value = 0;
    double min = 0;
    double max = 0;
    bool disabled = false;        // the shield stopped writing it after repeated failed writes
    std::string disabled_reason;  // why, naming the last failure; empty when not disabled
};

// Energy efficiency as the agent computes it (from attributed requests or service signals). Each value
// is missing until there is enough data. Savings are *estimated*: they compare with a modelled static
// baseline, never with a measured one.
struct EfficiencyStats {
    std::optional<double> energy_per_token_joules;
    std::optional<double> energy_per_request_joules;
    std::optional<double> tokens_per_joule;
    std::string provenance = "derived";                    // measured | derived | estimated
    std::optional<double> estimated_savings_joules_total;  // vs the static policy, since start
    std::optional<double> estimated_savings_ratio;         // saved / baseline energy, same window
};

struct AgentStatus {
    std::string version;
    std::string world;        // "node" | "twin"
    std::string policy;       // the running policy's name
    std::string shield_mode;  // observe | dry_run | act
    core::Seconds started_at{0};
    core::Seconds now{0};  // agent clock at the last publish
    core::Seconds uptime{0};
    core::Seconds sense_interval{1};
    core::Seconds decide_interval{10};
    std::uint64_t ticks = 0;
    std::uint64_t tick_deadline_misses = 0;  // ticks that started or ended after their deadline
    std::optional<core::Seconds> last_tick;  // agent clock time of the last tick
    core::Seconds last_tick_duration{0};     // wall time the last tick took
    std::uint64_t decisions = 0;
    std::uint64_t rollbacks = 0;
    std::map<std::string, std::uint64_t> actions_by_outcome;  // applied, clamped, refused, ...
    std::map<std::string, std::uint64_t> sensor_errors;       // by sensor name, since start
    std::uint64_t signals = 0;                                // signals in the catalog
    std::uint64_t signals_missing = 0;                        // of them, missing at the last tick
    LedgerStats ledger;
    std::vector<KnobValue> knobs;
    EfficiencyStats efficiency;
};

// ---- observations ----

struct SignalValue {
    std::string name;  // "gpu.0.power_watts"
    std::string unit;
    std::string provenance;       // measured | derived | estimated
    std::optional<double> value;  // nullopt: missing
};

struct LatestObservation {
    std::optional<core::Seconds> time;  // nullopt before the first tick
    std::vector<SignalValue> signals;
};

struct ObservationQuery {
    std::vector<std::string> signals;  // one or more signal names
    std::optional<core::Seconds> from;
    std::optional<core::Seconds> to;
    std::size_t limit = 3600;  // points per signal, newest kept
};

struct ObservationPoint {
    core::Seconds time{0};
    std::optional<double> value;
};

struct ObservationSeries {
    std::string signal;
    std::string unit;
    std::string provenance;
    std::vector<ObservationPoint> points;  // oldest first
    bool truncated = false;                // more points matched than `limit`
};

struct ObservationHistory {
    std::string source;                             // "memory" (the view's recent window) | "ledger"
    std::optional<core::Seconds> oldest_available;  // earliest time the source holds
    std::vector<ObservationSeries> series;
};

// ---- decisions and actions ----

struct RecentQuery {
    std::size_t limit = 100;
    std::optional<core::Seconds> since;  // strictly after
};

struct KnobSettingValue {
    std::string knob;
    double value = 0;
};

struct DecisionRecord {
    std::uint64_t id = 0;
    core::Seconds time{0};
    std::string policy;
    std::string trigger = "schedule";  // schedule | api (POST /v1/optimize)
    std::vector<KnobSettingValue> settings;
    std::string rationale;
    std::optional<double> predicted_power_watts;
    std::optional<double> predicted_p99_ttft_seconds;
    std::optional<double> predicted_p99_tpot_seconds;
};

struct ActionRecord {
    std::uint64_t id = 0;
    std::uint64_t decision_id = 0;  // 0 for a rollback or restore
    core::Seconds time{0};
    std::string kind = "apply";  // apply | rollback | restore
    std::string shield_mode;     // observe | dry_run | act at the time
    std::string knob;
    double requested = 0;
    double before = 0;
    double after = 0;
    std::string outcome;  // applied | clamped | unchanged | refused | not_written | failed | restored
    std::string reason;
};

// ---- commands ----

struct OptimizeResult {
    std::uint64_t command_id = 0;
    DecisionRecord decision;
    std::vector<ActionRecord> actions;  // what the shield did with it
};

struct RollbackResult {
    std::uint64_t command_id = 0;
    std::vector<ActionRecord> actions;
    std::string message;
};

struct PolicySpec {
    std::string name;
    nlohmann::json params = nlohmann::json::object();  // the policy's own keys ([policy.<name>] in TOML)
};

struct PolicyInfo {
    std::string name;
    nlohmann::json params = nlohmann::json::object();
    std::vector<std::string> available;  // names that PUT /v1/policy accepts
};

// ---- per-request energy ----

struct RequestRecord {
    std::string id;
    core::Seconds start{0};
    core::Seconds end{0};
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    std::string model;
    std::vector<int> gpus;  // GPU indices the request ran on ("gpu": 0 or "gpu": [0, 1])
};

struct RequestsAccepted {
    std::uint64_t accepted = 0;
    std::uint64_t duplicates = 0;  // same id and contents as a record already held: ignored
};

struct RequestEnergy {
    RequestRecord request;
    std::string status = "pending";  // pending (interval not yet measured) | attributed
    std::optional<double> energy_joules;
    std::optional<double> joules_per_token;  // per output token
    std::optional<double> grams_co2;
    std::string provenance = "derived";  // how the energy was obtained (attributed from measured counters)
};

struct ModelQuery {
    std::optional<std::string> model;
    std::optional<core::Seconds> from;
    std::optional<core::Seconds> to;
};

struct ModelEnergy {
    std::string model;
    std::uint64_t requests = 0;
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    double energy_joules = 0;
    std::optional<double> joules_per_token;
    std::optional<double> joules_per_request;
    std::optional<double> grams_co2;
    std::string provenance = "derived";
};

// ---- /metrics ----

// Everything /metrics shows, taken at one moment (metrics_exposition.hpp names each value).
struct MetricsSnapshot {
    AgentStatus status;
    std::vector<SignalValue> signals;  // the latest observation
    std::vector<ModelEnergy> models;   // per-model request energy; empty without a request store
};

}  // namespace joulepilot::serve
