#pragma once
// PromClient: a small client of the Prometheus HTTP query API (`GET /api/v1/query`), used to read service
// metrics (QPS, latency quantiles, tokens/s) of the model server. It asks for *instant* values only: a
// PromQL expression evaluated at one time, answered by a scalar or an instant vector. Range vectors
// (`matrix`) and strings are rejected with a message saying so.
//
// Every failure is a core::Result error that names the server and the query, e.g.
//   "prom: query 'sum(rate(vllm:request_success_total[1m]))' at http://127.0.0.1:9090: connection refused
//    (is Prometheus running and listening there? check [prom] url)".
// An empty vector is not an error: the expression matched no series, so the value is missing (nullopt).
// "NaN" is missing too (e.g. a rate over a counter with no increase divided by zero); "+Inf"/"-Inf" are
// returned as they are (histogram_quantile gives +Inf when the quantile lies in the +Inf bucket).
//
// Thread-safety: not thread-safe. One client owns one libcurl easy handle (connections are kept alive
// between queries on it); the loop thread owns the client. Distinct clients may be used on distinct threads.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/curl_easy.hpp"
#include "core/result.hpp"
#include "core/units.hpp"

namespace joulepilot::sense {

struct PromClientOptions {
    std::string url = "http://127.0.0.1:9090";  // base URL; a path prefix (".../prometheus") is kept
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds timeout{2000};  // whole request, connect included
    // Empty: no Authorization header. Otherwise the file holds the token; it is read again for every
    // query because mounted tokens (Kubernetes service accounts) are rotated while we run.
    std::filesystem::path bearer_token_file;
    bool verify_tls = true;  // turn off only for a test server with a self-signed certificate
};

// What kind of failure a query met; the sensor stops a tick early when the server is unreachable.
enum class PromFailure : std::uint8_t {
    unreachable,  // refused, host not resolved: no request reached a server
    transport,    // timeout, connection closed or reset, TLS failure
    http,         // a non-2xx status
    api,          // status "error" in the body (errorType, error)
    response,     // malformed JSON, unsupported resultType, unexpected shape
    config,       // bearer token file unreadable or empty
};

struct PromError {
    PromFailure kind = PromFailure::response;
    std::string message;  // names the server and the query
};

// One series of an instant vector, or the value of a scalar (no labels).
struct PromSample {
    std::map<std::string, std::string> labels;
    std::optional<double> value;  // nullopt for NaN
};

enum class PromResultType : std::uint8_t { vector, scalar };

struct PromQueryResult {
    PromResultType type = PromResultType::vector;
    std::vector<PromSample> samples;  // scalar: exactly one; vector: zero or more
};

template <class T>
using PromResult = tl::expected<T, PromError>;

// Parses a response body of /api/v1/query. `context` ("query '...' at URL") prefixes every message.
// Exposed for tests; the HTTP status is handled by PromClient before this is called.
PromResult<PromQueryResult> parse_query_response(std::string_view body, std::string_view context);

// Parses a Prometheus sample value string: "1.5", "NaN" (nullopt), "+Inf", "-Inf".
// Returns an error message when the text is not a number.
tl::expected<std::optional<double>, std::string> parse_sample_value(std::string_view text);

class PromClient {
public:
    // Fails when libcurl cannot make a handle, the URL is not http(s), or the bearer token file is
    // unreadable or empty (checked here so that a config mistake shows at start).
    static core::Result<PromClient> create(PromClientOptions options);

    PromClient(PromClient&&) noexcept;
    PromClient& operator=(PromClient&&) noexcept;
    PromClient(const PromClient&) = delete;
    PromClient& operator=(const PromClient&) = delete;
    ~PromClient();

    // Evaluates `promql` at `time` (Unix seconds; nullopt: the server's now).
    PromResult<PromQueryResult> query(std::string_view promql,
                                      std::optional<core::Seconds> time = std::nullopt);

    // The one number an expression yields: a scalar, or a vector of one element. An empty vector and NaN
    // are nullopt (no data); a vector of several elements is an error naming the query and suggesting an
    // aggregation (sum(), max()).
    PromResult<std::optional<double>> query_value(std::string_view promql,
                                                  std::optional<core::Seconds> time = std::nullopt);

    [[nodiscard]] const std::string& url() const { return m_options.url; }
    [[nodiscard]] const PromClientOptions& options() const { return m_options; }

    // The URL of a query, with the expression percent-encoded (exposed for tests and log messages).
    [[nodiscard]] std::string query_url(std::string_view promql, std::optional<core::Seconds> time) const;

private:
    PromClient(PromClientOptions options, core::http::CurlEasy curl);

    [[nodiscard]] std::string context(std::string_view promql) const;

    PromClientOptions m_options;
    core::http::CurlEasy m_curl;
};

}  // namespace joulepilot::sense
