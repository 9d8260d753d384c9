#include "act/kube/http_transport.hpp"

#include <curl/curl.h>

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace joulepilot::act {
namespace {

// A Kubernetes list or a knob table larger than this is not something we asked for; stop reading.
constexpr std::size_t kMaxBodyBytes = 16U << 20U;

using core::http::BodySink;
using core::http::Slist;

// CURLOPT_HEADERFUNCTION: keeps the value of a Retry-After header in the std::string given as HEADERDATA.
std::size_t write_header(char* ptr, std::size_t size, std::size_t count, void* user) {
    auto* retry_after = static_cast<std::string*>(user);
    const std::size_t n = size * count;
    std::string_view line(ptr, n);
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size()) {
        bool match = true;
        for (std::size_t i = 0; i < kName.size() && match; ++i)
            match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
        if (match) *retry_after = std::string(line.substr(kName.size()));
    }
    return n;
}

std::string trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return std::string(text);
}

void set_blob(CURL* h, CURLoption option, const std::string& pem) {
    curl_blob blob{};
    blob.data = const_cast<char*>(pem.data());  // libcurl copies it (CURL_BLOB_COPY)
    blob.len = pem.size();
    blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(h, option, &blob);
}

}  // namespace

HttpTransport::HttpTransport(HttpTransportOptions options, core::http::CurlEasy curl)
    : m_options(std::move(options)), m_curl(std::move(curl)) {}
HttpTransport::HttpTransport(HttpTransport&&) noexcept = default;
HttpTransport& HttpTransport::operator=(HttpTransport&&) noexcept = default;
HttpTransport::~HttpTransport() = default;

bool is_loopback_url(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return false;
    std::string_view host = url.substr(scheme + 3);
    host = host.substr(0, host.find('/'));
    if (host.find('@') != std::string_view::npos) return false;  // user@host: judge no further, refuse
    if (host.starts_with("[::1]")) return true;
    host = host.substr(0, host.find(':'));
    return host == "localhost" || host == "127.0.0.1" || host.starts_with("127.");
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
    const std::string text = trim(value);
    long long seconds = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || seconds < 0)
        return std::nullopt;
    return std::chrono::milliseconds(seconds * 1000);
}

core::Result<HttpTransport> HttpTransport::create(HttpTransportOptions options, bool allow_plain_http) {
    while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
    const bool https = options.base_url.starts_with("https://");
    const bool http = options.base_url.starts_with("http://");
    if (!https && !(http && allow_plain_http)) {
        return core::fail(fmt::format(
            "{}: server '{}' is not an https:// URL{}", options.what, options.base_url,
            http ? " (plain http is accepted only for a server on this host's loopback, e.g. in tests)" : ""));
    }
    if (options.client_cert_pem.empty() != options.client_key_pem.empty()) {
        return core::fail(fmt::format("{}: a client certificate needs its key and a key its certificate",
                                      options.what));
    }
    if (!options.bearer_token_file.empty()) {
        auto token = core::http::read_bearer_token(options.bearer_token_file, options.what);
        if (!token) return tl::unexpected(token.error());
    }
    auto curl = core::http::CurlEasy::create(options.what);
    if (!curl) return tl::unexpected(curl.error());
    return HttpTransport(std::move(options), std::move(*curl));
}

tl::expected<HttpResponse, TransportError> HttpTransport::request(std::string_view method, std::string_view path,
                                                                  std::string_view body,
                                                                  std::string_view content_type) {
    const std::string url = m_options.base_url + std::string(path);
    const auto failure = [&](TransportFailure kind, std::string message) {
        return tl::unexpected<TransportError>(TransportError{kind, std::move(message)});
    };
    std::string token = m_options.bearer_token;
    if (!m_options.bearer_token_file.empty()) {
        auto read = core::http::read_bearer_token(m_options.bearer_token_file, m_options.what);
        if (!read) return failure(TransportFailure::local, read.error().message);
        token = *read;
    }
    Slist headers(curl_slist_append(nullptr, "Accept: application/json"));
    if (!headers) return failure(TransportFailure::local, m_options.what + ": out of memory");
    std::vector<std::string> lines;
    if (!token.empty()) lines.push_back("Authorization: Bearer " + token);
    if (!body.empty() && !content_type.empty()) lines.push_back("Content-Type: " + std::string(content_type));
    // No "Expect: 100-continue" round trip for small bodies.
    lines.emplace_back("Expect:");
    for (const std::string& line : lines) {
        if (curl_slist_append(headers.get(), line.c_str()) == nullptr)
            return failure(TransportFailure::local, m_options.what + ": out of memory");
    }

    CURL* h = m_curl.get();
    m_curl.begin(url, m_options.connect_timeout, m_options.timeout);
    BodySink received(kMaxBodyBytes);
    std::string retry_after;
    const std::string verb(method);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
    if (verb == "GET") curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (!body.empty() || verb == "POST" || verb == "PUT" || verb == "PATCH") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    // TLS is always verified (begin() turns it on); a private CA comes as a PEM blob (kubeconfig
    // certificate-authority-data).
    if (!m_options.ca_pem.empty()) set_blob(h, CURLOPT_CAINFO_BLOB, m_options.ca_pem);
    if (!m_options.client_cert_pem.empty()) {
        set_blob(h, CURLOPT_SSLCERT_BLOB, m_options.client_cert_pem);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(h, CURLOPT_SSLKEY_BLOB, m_options.client_key_pem);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &write_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &retry_after);

    const core::http::Transfer transfer = m_curl.perform(headers, received);
    const std::string where = fmt::format("{}: {} {}", m_options.what, verb, url);
    if (transfer.code != CURLE_OK) {
        const std::string& detail = transfer.detail;
        switch (transfer.code) {
            case CURLE_COULDNT_CONNECT:
                return failure(TransportFailure::unreachable,
                               fmt::format("{}: connection refused ({}); is the server up and the address "
                                           "right?",
                                           where, detail));
            case CURLE_COULDNT_RESOLVE_HOST:
            case CURLE_COULDNT_RESOLVE_PROXY:
                return failure(TransportFailure::unreachable,
                               fmt::format("{}: cannot resolve the host ({})", where, detail));
            case CURLE_OPERATION_TIMEDOUT:
                return failure(TransportFailure::transport,
                               fmt::format("{}: timed out after {} ms", where, m_options.timeout.count()));
            case CURLE_PEER_FAILED_VERIFICATION:
            case CURLE_SSL_CONNECT_ERROR:
            case CURLE_SSL_CACERT_BADFILE:
            case CURLE_SSL_CERTPROBLEM:
                return failure(TransportFailure::transport,
                               fmt::format("{}: TLS failed ({}); check the server's certificate against the "
                                           "CA of the credentials (certificate-authority / ca.crt)",
                                           where, detail));
            case CURLE_WRITE_ERROR:
                if (received.overflow) {
                    return failure(TransportFailure::transport,
                                   fmt::format("{}: the response is larger than {} MiB", where,
                                               kMaxBodyBytes >> 20U));
                }
                [[fallthrough]];
            default:
                return failure(TransportFailure::transport, fmt::format("{}: {}", where, detail));
        }
    }
    HttpResponse response;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    response.body = std::move(received.data);
    if (!retry_after.empty()) response.retry_after = parse_retry_after(retry_after);
    return response;
}

}  // namespace joulepilot::act
