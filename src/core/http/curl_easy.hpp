#pragma once
// CurlEasy and the libcurl plumbing every HTTP client of joulepilot shares: the once-only global
// initialisation, the owner of one easy handle (with the options all our requests share and the transfer
// itself), the owner of a header list, a response body capped in size, percent-encoding and the
// bearer-token file reader. Used by sense/prom (PromClient) and act/kube (HttpTransport, for the Kubernetes
// client and the knob endpoint); its own library (jp_core_curl) so that core itself does not link libcurl.
//
// Thread-safety: curl_ready() may be called from any thread. A CurlEasy, like the handle it owns, has one
// user at a time.

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace joulepilot::core::http {

// Runs curl_global_init once, before the first handle (it is not thread-safe on every libcurl build, so
// a function-local static makes the language run it exactly once). False when it failed.
bool curl_ready();

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
// Request headers. Appending to a non-empty list returns its head, which the owner already holds.
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// A response body, read up to `max_bytes`: a larger one sets `overflow` and stops the transfer.
struct BodySink {
    explicit BodySink(std::size_t max) : max_bytes(max) {}
    std::string data;
    std::size_t max_bytes;
    bool overflow = false;
};

// How a transfer ended: CURLE_OK, or the code and libcurl's words for it (its error buffer, else the
// code's text), for the caller's message.
struct Transfer {
    CURLcode code = CURLE_OK;
    std::string detail;
};

// Owns one easy handle. Reused across requests, it keeps the connection to the server open (keep-alive):
// one TCP (and TLS) handshake per run, not per request.
class CurlEasy {
public:
    // Fails, prefixed with `what` ("prom", "kube"), when libcurl cannot initialise or make a handle.
    static Result<CurlEasy> create(std::string_view what);

    [[nodiscard]] CURL* get() const { return m_handle.get(); }

    // Starts a request: clears the previous request's options (the connection cache stays) and sets what
    // all our requests share: `url`, http(s) only, no redirects, no signals, the timeouts, TLS verified
    // (peer and host), our user agent. The caller adds its method, body and credentials before perform().
    void begin(const std::string& url, std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds timeout) const;

    // Sends the request begun with begin() with `headers`, reading the body into `body`. Afterwards the
    // handle no longer points at the header list or the error buffer (the next begin() clears the rest).
    Transfer perform(const Slist& headers, BodySink& body) const;

private:
    struct Cleanup {
        void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
    };
    explicit CurlEasy(CURL* handle) : m_handle(handle) {}

    std::unique_ptr<CURL, Cleanup> m_handle;
};

// CURLOPT_WRITEFUNCTION for a BodySink given as CURLOPT_WRITEDATA. Past the cap it returns 0, which makes
// libcurl stop with CURLE_WRITE_ERROR (the caller tells that apart from a real write error by `overflow`).
std::size_t append_body(char* ptr, std::size_t size, std::size_t count, void* sink);

// `text` percent-encoded: everything but RFC 3986 unreserved characters becomes %XX.
std::string url_escape(std::string_view text);

// The token in a bearer-token file: one token on one line (surrounding white space and a trailing newline,
// as `echo` writes it, are dropped). Read per request by the callers, because mounted tokens (Kubernetes
// service accounts) rotate while we run. Errors start with `what` and name the file and the fix.
Result<std::string> read_bearer_token(const std::filesystem::path& path, std::string_view what);

}  // namespace joulepilot::core::http
