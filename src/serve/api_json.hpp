#pragma once
// JSON for the HTTP API: the response shapes of every api_types.hpp value (docs/api.md shows them) and
// the strict parsers of request bodies. Parsers refuse unknown fields, wrong types and out-of-range
// values and list every problem found (ApiError::details), each naming the field ("[2].end: ...").
// Pure functions; safe from any thread.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/api_types.hpp"

namespace joulepilot::serve {

// The HTTP status and the JSON "code" of an error.
int http_status(ErrorCode code);
std::string_view to_string(ErrorCode code);
// {"error": {"code": "...", "message": "...", "details": [...]}} (details only when there are some).
nlohmann::json error_json(const ApiError& error);

nlohmann::json to_json(const AgentStatus& status);
nlohmann::json to_json(const LatestObservation& latest);
nlohmann::json to_json(const ObservationHistory& history);
nlohmann::json to_json(const DecisionRecord& decision);
nlohmann::json to_json(const ActionRecord& action);
nlohmann::json to_json(const OptimizeResult& result);
nlohmann::json to_json(const RollbackResult& result);
nlohmann::json to_json(const PolicyInfo& policy);
nlohmann::json to_json(const RequestsAccepted& accepted);
nlohmann::json to_json(const RequestRecord& record);
nlohmann::json to_json(const RequestEnergy& energy);
nlohmann::json to_json(const ModelEnergy& model);

// Limits on posted request records.
inline constexpr std::size_t kMaxRecordsPerPost = 10000;
inline constexpr std::size_t kMaxIdLength = 128;
inline constexpr std::size_t kMaxModelLength = 256;

// The body of POST /v1/requests: one record object or an array of them (1..kMaxRecordsPerPost).
ApiResult<std::vector<RequestRecord>> parse_request_records(const nlohmann::json& body);
// The body of PUT /v1/policy: {"name": "...", "params": {...}}.
ApiResult<PolicySpec> parse_policy_spec(const nlohmann::json& body);
// Request ids: 1..kMaxIdLength characters of [A-Za-z0-9._:@-] (they appear in URLs unescaped).
bool valid_request_id(std::string_view id);

}  // namespace joulepilot::serve
