#pragma once
// HttpTransport: one HTTP request at a time over a libcurl easy handle, for the remote actuators (the
// Kubernetes REST client and the model server's knob endpoint). It sends a request and returns the status,
// the body and the Retry-After header; it does not retry and does not interpret statuses: its callers do.
//
// TLS is always verified for https:// (against `ca_pem` when given, else the system CA store); there is no
// switch to turn verification off. Plain http:// is accepted only when the caller allows it (tests on
// 127.0.0.1, a model server on the node's loopback).
//
// Thread-safety: not thread-safe; one owner (the loop thread, or the scheduler's controller) per transport.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/http/curl_easy.hpp"
#include "core/result.hpp"

namespace joulepilot::act {

struct HttpTransportOptions {
    std::string base_url;  // "https://10.0.0.1:6443"; trailing '/' removed
    std::string ca_pem;    // CA bundle (PEM) to verify the server; empty: the system store
    std::string client_cert_pem;  // client certificate (PEM) and its key, both or neither
    std::string client_key_pem;
    std::string bearer_token;                  // sent as Authorization: Bearer, when not empty
    std::filesystem::path bearer_token_file;   // re-read per request (mounted tokens rotate); wins over the string
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds timeout{10000};  // whole request
    std::string what = "http";                 // prefix of messages: "kube", "knobs"
};

struct HttpResponse {
    long status = 0;
    std::string body;
    std::optional<std::chrono::milliseconds> retry_after;  // Retry-After in seconds, when sent
};

// Why no response came back.
enum class TransportFailure : std::uint8_t {
    unreachable,  // connection refused, host not resolved: nothing reached a server
    transport,    // timeout, reset, TLS failure
    local,        // our side: token file unreadable, out of memory
};

struct TransportError {
    TransportFailure kind = TransportFailure::transport;
    std::string message;  // names the URL and what to check
};

class HttpTransport {
public:
    // Fails on a URL that is not https:// (or http:// when `allow_plain_http`), a certificate without its
    // key, or an unreadable token file.
    static core::Result<HttpTransport> create(HttpTransportOptions options, bool allow_plain_http);

    HttpTransport(HttpTransport&&) noexcept;
    HttpTransport& operator=(HttpTransport&&) noexcept;
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;
    ~HttpTransport();

    // `path` starts with '/' (query string included). `content_type` is sent only with a body.
    tl::expected<HttpResponse, TransportError> request(std::string_view method, std::string_view path,
                                                       std::string_view body = {},
                                                       std::string_view content_type = {});

    [[nodiscard]] const std::string& base_url() const { return m_options.base_url; }

private:
    HttpTransport(HttpTransportOptions options, core::http::CurlEasy curl);

    HttpTransportOptions m_options;
    core::http::CurlEasy m_curl;
};

// "http://127.0.0.1:8080" and "http://localhost" are loopback; used to allow plain http for tests only.
bool is_loopback_url(std::string_view url);

// Retry-After: delta seconds ("3"); an HTTP date is not parsed (nullopt: the caller's own back-off).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace joulepilot::act
