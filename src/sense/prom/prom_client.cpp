#include "sense/prom/prom_client.hpp"

#include <curl/curl.h>

#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::sense {
namespace {

// A query answer larger than this is not an instant value we can use; stop reading rather than
// letting a runaway expression (thousands of series) fill memory.
constexpr std::size_t kMaxBodyBytes = 4U << 20U;

tl::unexpected<PromError> prom_fail(PromFailure kind, std::string message) {
    return tl::unexpected<PromError>(PromError{kind, std::move(message)});
}

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

using core::http::BodySink;
using core::http::Slist;

std::string shorten(std::string_view text, std::size_t max_chars) {
    text = trim(text);
    if (text.size() <= max_chars) return std::string(text);
    return std::string(text.substr(0, max_chars)) + "...";
}

// The value of a [time, "value"] pair; `what` says where it was for the message.
PromResult<std::optional<double>> sample_of(const nlohmann::json& pair, std::string_view context,
                                            std::string_view what) {
    if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
        return prom_fail(PromFailure::response,
                         fmt::format("prom: {}: {} is not a [time, \"value\"] pair", context, what));
    }
    auto value = parse_sample_value(pair[1].get_ref<const std::string&>());
    if (!value)
        return prom_fail(PromFailure::response,
                         fmt::format("prom: {}: {}: {}", context, what, value.error()));
    return *value;
}

}  // namespace

tl::expected<std::optional<double>, std::string> parse_sample_value(std::string_view text) {
    // Prometheus formats floats with Go's strconv: "NaN", "+Inf", "-Inf", or a decimal/exponent number.
    if (text == "NaN") return std::optional<double>();
    if (text == "+Inf" || text == "Inf")
        return std::optional<double>(std::numeric_limits<double>::infinity());
    if (text == "-Inf") return std::optional<double>(-std::numeric_limits<double>::infinity());
    double value = 0;
    const char* begin = text.data();
    const char* end = begin + text.size();
    if (!text.empty() && *begin == '+') ++begin;  // from_chars takes no leading '+'
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return tl::unexpected<std::string>(
            fmt::format("sample value '{}' is not a number", shorten(text, 40)));
    }
    return std::optional<double>(value);
}

PromResult<PromQueryResult> parse_query_response(std::string_view body, std::string_view context) {
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
        return prom_fail(
            PromFailure::response,
            fmt::format("prom: {}: the response is not JSON (is the URL a Prometheus server?): '{}'", context,
                        shorten(body, 80)));
    }
    const auto status = doc.find("status");
    if (status == doc.end() || !status->is_string()) {
        return prom_fail(PromFailure::response,
                         fmt::format("prom: {}: the response has no \"status\"", context));
    }
    if (*status != "success") {
        const std::string type = doc.value("errorType", std::string("unknown"));
        const std::string error = doc.value("error", std::string("(no message)"));
        return prom_fail(PromFailure::api, fmt::format("prom: {}: {}: {}", context, type, error));
    }
    const auto data = doc.find("data");
    if (data == doc.end() || !data->is_object() || !data->contains("resultType") ||
        !data->contains("result") || !(*data)["resultType"].is_string()) {
        return prom_fail(
            PromFailure::response,
            fmt::format("prom: {}: the response has no data.resultType and data.result", context));
    }
    const std::string& type = (*data)["resultType"].get_ref<const std::string&>();
    const nlohmann::json& result = (*data)["result"];
    PromQueryResult out;
    if (type == "scalar") {
        out.type = PromResultType::scalar;
        auto value = sample_of(result, context, "the scalar");
        if (!value) return tl::unexpected<PromError>(value.error());
        out.samples.push_back(PromSample{{}, *value});
        return out;
    }
    if (type != "vector") {
        return prom_fail(
            PromFailure::response,
            fmt::format("prom: {}: the result is a {}; only instant vectors and scalars are supported "
                        "(drop the range selector [..] or wrap it in a function such as rate())",
                        context, type));
    }
    if (!result.is_array()) {
        return prom_fail(PromFailure::response, fmt::format("prom: {}: data.result is not a list", context));
    }
    out.type = PromResultType::vector;
    out.samples.reserve(result.size());
    for (std::size_t i = 0; i < result.size(); ++i) {
        const nlohmann::json& series = result[i];
        if (!series.is_object() || !series.contains("value")) {
            return prom_fail(
                PromFailure::response,
                fmt::format("prom: {}: series {} has no \"value\" (a native histogram is not a number)",
                            context, i));
        }
        auto value = sample_of(series["value"], context, fmt::format("series {}", i));
        if (!value) return tl::unexpected<PromError>(value.error());
        PromSample sample{{}, *value};
        if (const auto metric = series.find("metric"); metric != series.end() && metric->is_object()) {
            for (const auto& [key, label] : metric->items()) {
                if (label.is_string()) sample.labels.emplace(key, label.get<std::string>());
            }
        }
        out.samples.push_back(std::move(sample));
    }
    return out;
}

PromClient::PromClient(PromClientOptions options, core::http::CurlEasy curl)
    : m_options(std::move(options)), m_curl(std::move(curl)) {}
PromClient::PromClient(PromClient&&) noexcept = default;
PromClient& PromClient::operator=(PromClient&&) noexcept = default;
PromClient::~PromClient() = default;

core::Result<PromClient> PromClient::create(PromClientOptions options) {
    while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
    if (!options.url.starts_with("http://") && !options.url.starts_with("https://")) {
        return core::fail(
            fmt::format("prom: url '{}' is not http:// or https://; set [prom] url, e.g. "
                        "\"http://127.0.0.1:9090\"",
                        options.url));
    }
    if (options.timeout.count() <= 0 || options.connect_timeout.count() <= 0) {
        return core::fail("prom: timeouts must be positive");
    }
    if (!options.bearer_token_file.empty()) {
        auto token = core::http::read_bearer_token(options.bearer_token_file, "prom");
        if (!token) return tl::unexpected<core::Error>(token.error());
    }
    auto curl = core::http::CurlEasy::create("prom");
    if (!curl) return tl::unexpected<core::Error>(curl.error());
    return PromClient(std::move(options), std::move(*curl));
}

std::string PromClient::context(std::string_view promql) const {
    return fmt::format("query '{}' at {}", shorten(promql, 200), m_options.url);
}

std::string PromClient::query_url(std::string_view promql, std::optional<core::Seconds> time) const {
    std::string url = m_options.url + "/api/v1/query?query=";
    // '{', '"', '[', ' ', '+', '=' and ':' in PromQL all become %XX, so the server decodes exactly the
    // expression we wrote.
    url += core::http::url_escape(promql);
    if (time) url += fmt::format("&time={:.3f}", time->value());
    return url;
}

PromResult<PromQueryResult> PromClient::query(std::string_view promql, std::optional<core::Seconds> time) {
    const std::string where = context(promql);
    if (trim(promql).empty())
        return prom_fail(PromFailure::config, fmt::format("prom: {}: the query is empty", where));

    const Slist headers(curl_slist_append(nullptr, "Accept: application/json"));
    if (!headers) return prom_fail(PromFailure::transport, "prom: out of memory building request headers");
    if (!m_options.bearer_token_file.empty()) {
        auto token = core::http::read_bearer_token(m_options.bearer_token_file, "prom");
        if (!token) return prom_fail(PromFailure::config, token.error().message);
        // Appending to a non-empty list returns its head, which `headers` already owns.
        const std::string header = "Authorization: Bearer " + *token;
        if (curl_slist_append(headers.get(), header.c_str()) == nullptr) {
            return prom_fail(PromFailure::transport, "prom: out of memory building request headers");
        }
    }

    CURL* h = m_curl.get();
    const std::string url = query_url(promql, time);
    m_curl.begin(url, m_options.connect_timeout, m_options.timeout);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (!m_options.verify_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    BodySink body(kMaxBodyBytes);
    const core::http::Transfer transfer = m_curl.perform(headers, body);
    if (transfer.code != CURLE_OK) {
        const std::string& detail = transfer.detail;
        switch (transfer.code) {
            case CURLE_COULDNT_CONNECT:
                return prom_fail(
                    PromFailure::unreachable,
                    fmt::format("prom: {}: connection refused ({}); is Prometheus running and listening "
                                "there? check [prom] url",
                                where, detail));
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_RESOLVE_PROXY:
                return prom_fail(
                    PromFailure::unreachable,
                    fmt::format("prom: {}: cannot resolve the host ({}); check [prom] url", where, detail));
            case CURLE_OPERATION_TIMEDOUT:
                return prom_fail(
                    PromFailure::transport,
                    fmt::format("prom: {}: timed out after {} ms; the server is overloaded or the query "
                                "is expensive (raise [prom] timeout_s or simplify the query)",
                                where, m_options.timeout.count()));
            case CURLE_GOT_NOTHING:
                return prom_fail(
                    PromFailure::transport,
                    fmt::format("prom: {}: the server closed the connection without a reply", where));
            case CURLE_RECV_ERROR:
            case CURLE_SEND_ERROR:
            case CURLE_PARTIAL_FILE:
                return prom_fail(
                    PromFailure::transport,
                    fmt::format("prom: {}: the server closed or reset the connection ({})", where, detail));
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_SSL_CACERT_BADFILE:
                return prom_fail(
                    PromFailure::transport,
                    fmt::format("prom: {}: TLS failed ({}); check the server's certificate and the "
                                "system CA store",
                                where, detail));
            case CURLE_WRITE_ERROR:
                if (body.overflow) {
                    return prom_fail(
                        PromFailure::response,
                        fmt::format("prom: {}: the response is larger than {} MiB; aggregate the query "
                                    "(sum(), max()) so that it yields one number",
                                    where, kMaxBodyBytes >> 20U));
                }
                [[fallthrough]];
            default:
                return prom_fail(PromFailure::transport, fmt::format("prom: {}: {}", where, detail));
        }
    }

    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        // Prometheus answers bad queries with 400/422 and a JSON error body; say what it said when it did.
        auto parsed = parse_query_response(body.data, where);
        if (!parsed && parsed.error().kind == PromFailure::api) {
            return prom_fail(PromFailure::api, fmt::format("{} (HTTP {})", parsed.error().message, status));
        }
        std::string hint;
        if (status == 401 || status == 403) hint = "; check [prom] bearer_token_file";
        if (status == 404) hint = "; is [prom] url the base URL of a Prometheus server (without /api/v1)?";
        if (status == 502 || status == 503 || status == 504)
            hint = "; the server or a proxy in front of it is not ready";
        return prom_fail(PromFailure::http,
                         fmt::format("prom: {}: HTTP {}{}{}", where, status,
                                     body.data.empty() ? "" : ": " + shorten(body.data, 120), hint));
    }
    return parse_query_response(body.data, where);
}

PromResult<std::optional<double>> PromClient::query_value(std::string_view promql,
                                                          std::optional<core::Seconds> time) {
    auto result = query(promql, time);
    if (!result) return tl::unexpected<PromError>(result.error());
    if (result->samples.empty()) return std::optional<double>();  // no series matched: no data
    if (result->samples.size() > 1) {
        return prom_fail(
            PromFailure::response,
            fmt::format("prom: {}: yields {} series, not one number; aggregate it, e.g. sum({}) or "
                        "max({})",
                        context(promql), result->samples.size(), shorten(promql, 60), shorten(promql, 60)));
    }
    return result->samples.front().value;
}

}  // namespace joulepilot::sense
