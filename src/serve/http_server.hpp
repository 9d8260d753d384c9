#pragma once
// HttpServer: the agent's HTTP API (JSON under /v1, docs/api.md), Prometheus /metrics and the dashboard
// at /, served by cpp-httplib from a fixed pool of worker threads. It knows the agent only through an
// AgentView (agent_view.hpp), which its workers call concurrently. Mutating calls need a bearer token
// (bearer_auth.hpp). Bodies are limited (413 beyond `max_body_bytes`); every error, 404 and 405
// included, is JSON {"error": {"code", "message"}} with a message a person can act on.
//
// Each open keep-alive connection holds a worker while it is open (cpp-httplib's model), so `threads`
// bounds concurrent clients; idle connections are closed after `keep_alive_timeout`.
//
// Thread-safety: start() and stop() from one owning thread; the server's own threads call the view.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/units.hpp"
#include "serve/agent_view.hpp"
#include "serve/bearer_auth.hpp"

namespace joulepilot::serve {

struct HttpServerOptions {
    std::string listen = "127.0.0.1:9464";   // host:port; port 0 picks a free port (see HttpServer::port())
    std::filesystem::path token_file;        // empty: mutating calls are refused (403)
    std::size_t threads = 16;                // worker threads, the most concurrent connections served
    std::size_t max_body_bytes = 1U << 20U;  // larger request bodies get 413
    core::Seconds read_timeout{5};
    core::Seconds write_timeout{5};
    core::Seconds keep_alive_timeout{5};
    std::size_t keep_alive_max_requests = 10000;  // then the connection is closed and its worker freed
    BearerAuth::Compare token_compare = &constant_time_equal;  // tests only: observe the comparison
};

// Reads the [api] section (docs/config.md). Throws core::ConfigError naming the key on a bad value.
HttpServerOptions read_http_server_options(const core::ConfigSection& api);

struct ListenAddress {
    std::string host;
    int port = 0;
};
// "127.0.0.1:9464", "[::1]:0", "0.0.0.0:9464"; fails naming the text and the expected form.
core::Result<ListenAddress> parse_listen_address(std::string_view text);

class HttpServer {
public:
    // `view` must outlive the server.
    HttpServer(AgentView& view, HttpServerOptions options);
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Checks the token file, binds the address and starts serving on a thread of its own. Fails with a
    // message naming the address (in use, permission) or the token file.
    core::Result<void> start();
    // Stops accepting, lets in-flight requests finish, joins every thread. Safe to call twice.
    void stop();

    [[nodiscard]] bool running() const;
    [[nodiscard]] int port() const;         // the bound port (the real one when 0 was asked for)
    [[nodiscard]] std::string url() const;  // "http://127.0.0.1:<port>"

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace joulepilot::serve
