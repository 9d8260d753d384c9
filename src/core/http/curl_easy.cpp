#include "core/http/curl_easy.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace joulepilot::core::http {
namespace {

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

struct CurlFree {
    void operator()(char* text) const { curl_free(text); }
};

}  // namespace

bool curl_ready() {
    static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return ok;
}

Result<CurlEasy> CurlEasy::create(std::string_view what) {
    if (!curl_ready()) return fail(fmt::format("{}: libcurl global initialisation failed", what));
    CURL* raw = curl_easy_init();
    if (raw == nullptr)
        return fail(fmt::format("{}: libcurl could not make a handle (out of memory?)", what));
    return CurlEasy(raw);
}

void CurlEasy::begin(const std::string& url, std::chrono::milliseconds connect_timeout,
                     std::chrono::milliseconds timeout) const {
    CURL* h = get();
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    // No signals: libcurl's default resolver uses SIGALRM for timeouts, which is unsafe in a threaded daemon.
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "joulepilot");
}

Transfer CurlEasy::perform(const Slist& headers, BodySink& body) const {
    CURL* h = get();
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer.data());
    const CURLcode rc = curl_easy_perform(h);
    // The error buffer dies with this call and the header list may die before the next; let go of both.
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    if (rc == CURLE_OK) return Transfer{};
    return Transfer{rc, error_buffer[0] != '\0' ? std::string(error_buffer.data()) : curl_easy_strerror(rc)};
}

std::size_t append_body(char* ptr, std::size_t size, std::size_t count, void* sink) {
    auto* body = static_cast<BodySink*>(sink);
    const std::size_t n = size * count;
    if (body->data.size() + n > body->max_bytes) {
        body->overflow = true;
        return 0;
    }
    body->data.append(ptr, n);
    return n;
}

std::string url_escape(std::string_view text) {
    // curl_easy_escape takes a null handle since libcurl 7.82; Debian 12 ships 7.88.
    const std::unique_ptr<char, CurlFree> escaped(
        curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size())));
    return escaped ? std::string(escaped.get()) : std::string();
}

Result<std::string> read_bearer_token(const std::filesystem::path& path, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(
            fmt::format("{}: bearer token file {}: cannot open ({}); check that the path is right and "
                        "that this user may read it",
                        what, path.string(), std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    const std::string token(trim(text.str()));
    if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
        return fail(fmt::format("{}: bearer token file {}: {}; it must hold exactly one token on one line",
                                what, path.string(), token.empty() ? "empty" : "holds several lines"));
    }
    return token;
}

}  // namespace joulepilot::core::http
