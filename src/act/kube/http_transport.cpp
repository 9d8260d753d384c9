#include "act/kube/http_transport.hpp"

#include <curl/curl.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace joulepilot::act {
namespace {

// A Kubernetes list or a knob table larger than this is not something we asked for; stop reading.
constexpr std::size_t kMaxBodyBytes = 16U << 20U;

bool curl_ready() {
    // curl_global_init is not guaranteed thread-safe: run it once, through a function-local static.
    static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return ok;
}

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct Received {
    std::string body;
    std::string retry_after;
    bool overflow = false;
};

std::size_t write_body(char* ptr, std::size_t size, std::size_t count, void* user) {
    auto* out = static_cast<Received*>(user);
    const std::size_t n = size * count;
    if (out->body.size() + n > kMaxBodyBytes) {
        out->overflow = true;
        return 0;
    }
    out->body.append(ptr, n);
    return n;
}

std::size_t write_header(char* ptr, std::size_t size, std::size_t count, void* user) {
    auto* out = static_cast<Received*>(user);
    const std::size_t n = size * count;
    std::string_view line(ptr, n);
    constexpr std::string_view kName = "retry-after:";
    if (line.size() > kName.size()) {
        bool match = true;
        for (std::size_t i = 0; i < kName.size() && match; ++i)
            match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
        if (match) out->retry_after = std::string(line.substr(kName.size()));
    }
    return n;
}

std::string trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return std::string(text);
}

core::Result<std::string> read_token(const std::filesystem::path& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::fail(fmt::format("{}: token file {}: cannot open ({})", what, path.string(),
                                      std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = trim(text.str());
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
        return core::fail(
            fmt::format("{}: token file {}: must hold exactly one token on one line", what, path.string()));
    }
    return token;
}

void set_blob(CURL* h, CURLoption option, const std::string& pem) {
    curl_blob blob{};
    blob.data = const_cast<char*>(pem.data());  // libcurl copies it (CURL_BLOB_COPY)
    blob.len = pem.size();
    blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(h, option, &blob);
}

}  // namespace

struct HttpTransport::Curl {
    CURL* handle = nullptr;
    explicit Curl(CURL* h) : handle(h) {}
    Curl(const Curl&) = delete;
    Curl& operator=(const Curl&) = delete;
    ~Curl() {
        if (handle != nullptr) curl_easy_cleanup(handle);
    }
};

HttpTransport::HttpTransport(HttpTransportOptions options, std::unique_ptr<Curl> curl)
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
        auto token = read_token(options.bearer_token_file, options.what);
        if (!token) return tl::unexpected(token.error());
    }
    if (!curl_ready()) return core::fail(options.what + ": libcurl global initialisation failed");
    CURL* raw = curl_easy_init();
    if (raw == nullptr) return core::fail(options.what + ": libcurl could not make a handle (out of memory?)");
    return HttpTransport(std::move(options), std::make_unique<Curl>(raw));
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
        auto read = read_token(m_options.bearer_token_file, m_options.what);
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

    CURL* h = m_curl->handle;
    curl_easy_reset(h);  // keeps the connection cache, clears the previous request's options
    Received received;
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    const std::string verb(method);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
    if (verb == "GET") curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (!body.empty() || verb == "POST" || verb == "PUT" || verb == "PATCH") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for resolver timeouts in a threaded daemon
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_options.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(m_options.timeout.count()));
    // Always verified; a private CA comes as a PEM blob (kubeconfig certificate-authority-data).
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_options.ca_pem.empty()) set_blob(h, CURLOPT_CAINFO_BLOB, m_options.ca_pem);
    if (!m_options.client_cert_pem.empty()) {
        set_blob(h, CURLOPT_SSLCERT_BLOB, m_options.client_cert_pem);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(h, CURLOPT_SSLKEY_BLOB, m_options.client_key_pem);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &write_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &received);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer.data());
    curl_easy_setopt(h, CURLOPT_USERAGENT, "joulepilot");

    const CURLcode rc = curl_easy_perform(h);
    // The buffers above die with this call; leave the handle pointing at none of them.
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    const std::string where = fmt::format("{}: {} {}", m_options.what, verb, url);
    if (rc != CURLE_OK) {
        const std::string detail =
            error_buffer[0] != '\0' ? std::string(error_buffer.data()) : curl_easy_strerror(rc);
        switch (rc) {
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
    response.body = std::move(received.body);
    if (!received.retry_after.empty()) response.retry_after = parse_retry_after(received.retry_after);
    return response;
}

}  // namespace joulepilot::act
