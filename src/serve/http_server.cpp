#include "serve/http_server.hpp"

#include <httplib.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "serve/api_json.hpp"
#include "serve/dashboard_page.hpp"
#include "serve/metrics_exposition.hpp"

namespace joulepilot::serve {

using nlohmann::json;

HttpServerOptions read_http_server_options(const core::ConfigSection& api) {
    HttpServerOptions out;
    out.listen = api.string("listen", out.listen);
    if (auto parsed = parse_listen_address(out.listen); !parsed) {
        throw core::ConfigError(
            fmt::format("config: key '{}': {}", api.path_of("listen"), parsed.error().message));
    }
    out.token_file = api.string("token_file", "");
    out.threads = static_cast<std::size_t>(api.integer("threads", 16, 1, 256));
    out.max_body_bytes = static_cast<std::size_t>(api.integer("max_body_bytes", 1 << 20, 1024, 64 << 20));
    out.read_timeout = core::Seconds(api.number("read_timeout_s", 5.0, 0.1, 300.0));
    out.write_timeout = core::Seconds(api.number("write_timeout_s", 5.0, 0.1, 300.0));
    out.keep_alive_timeout = core::Seconds(api.number("keep_alive_timeout_s", 5.0, 0.1, 300.0));
    return out;
}

core::Result<ListenAddress> parse_listen_address(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return core::fail(
            fmt::format("listen address '{}': {}; write host:port, e.g. 127.0.0.1:9464, [::1]:9464 or "
                        "0.0.0.0:9464 (port 0 picks a free port)",
                        text, why));
    };
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return bad("no host:port");
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.back() != ']' || host.size() < 3) return bad("an IPv6 host must be in brackets");
        host = host.substr(1, host.size() - 2);
    }
    int port = -1;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
        return bad("the port must be an integer 0..65535");
    }
    return ListenAddress{std::string(host), port};
}

namespace {

// Every route: its path pattern (httplib regex), the methods it answers, and whether a method mutates.
struct RouteInfo {
    std::string_view pattern;
    std::string_view methods;  // for the Allow header
};
constexpr std::array<RouteInfo, 12> kRoutes = {{
    {"/", "GET"},
    {"/metrics", "GET"},
    {"/v1/status", "GET"},
    {"/v1/observations", "GET"},
    {"/v1/decisions", "GET"},
    {"/v1/actions", "GET"},
    {"/v1/optimize", "POST"},
    {"/v1/rollback", "POST"},
    {"/v1/policy", "GET, PUT"},
    {"/v1/requests", "GET, POST"},
    {"/v1/requests/[^/]+", "GET"},
    {"/v1", "GET"},
}};

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
    send_json(res, http_status(error.code), error_json(error));
}

ApiError error(ErrorCode code, std::string message) { return ApiError{code, std::move(message), {}}; }

// Query parameters: each route lists the ones it knows; others are refused so typos are not ignored.
std::optional<ApiError> reject_unknown_params(const httplib::Request& req,
                                              std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : req.params) {
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string list;
            for (const auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
            return error(ErrorCode::bad_request, fmt::format("unknown query parameter '{}' for {}; known: {}",
                                                             name, req.path, list.empty() ? "none" : list));
        }
        if (req.get_param_value_count(name) > 1 && name != "signal") {
            return error(ErrorCode::bad_request, fmt::format("query parameter '{}' given twice", name));
        }
    }
    return std::nullopt;
}

ApiResult<std::optional<double>> number_param(const httplib::Request& req, const std::string& name) {
    if (!req.has_param(name.c_str())) return std::optional<double>{};
    const std::string text = req.get_param_value(name.c_str());
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
        return api_fail(ErrorCode::bad_request,
                        fmt::format("query parameter '{}={}' is not a number (seconds on the agent's clock)",
                                    name, text));
    }
    return std::optional<double>(value);
}

ApiResult<std::size_t> limit_param(const httplib::Request& req, std::size_t fallback, std::size_t max) {
    if (!req.has_param("limit")) return fallback;
    const std::string text = req.get_param_value("limit");
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
        return api_fail(ErrorCode::bad_request,
                        fmt::format("query parameter 'limit={}' must be an integer 1..{}", text, max));
    }
    return value;
}

ApiResult<json> parse_body(const httplib::Request& req, bool allow_empty) {
    const auto first = req.body.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        if (allow_empty) return json::object();
        return api_fail(ErrorCode::bad_request, fmt::format("{} {} needs a JSON body", req.method, req.path));
    }
    try {
        return json::parse(req.body);
    } catch (const json::parse_error& e) {
        return api_fail(ErrorCode::bad_request,
                        fmt::format("the body is not valid JSON (byte {}): {}", e.byte, e.what()));
    }
}

std::optional<core::Seconds> to_seconds(const std::optional<double>& value) {
    return value ? std::optional<core::Seconds>(core::Seconds(*value)) : std::nullopt;
}

std::vector<std::string> split_signals(const httplib::Request& req) {
    std::vector<std::string> out;
    const std::size_t count = req.get_param_value_count("signal");
    for (std::size_t i = 0; i < count; ++i) {
        const std::string value = req.get_param_value("signal", i);
        std::size_t begin = 0;
        while (begin <= value.size()) {
            const std::size_t comma = value.find(',', begin);
            const std::string name =
                value.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
            if (!name.empty()) out.push_back(name);
            if (comma == std::string::npos) break;
            begin = comma + 1;
        }
    }
    return out;
}

}  // namespace

class HttpServer::Impl {
public:
    Impl(AgentView& view, HttpServerOptions options)
        : m_view(view),
          m_options(std::move(options)),
          m_auth(m_options.token_file, m_options.token_compare) {}

    core::Result<void> start();
    void stop();

    AgentView& m_view;
    HttpServerOptions m_options;
    BearerAuth m_auth;
    std::string m_dashboard;
    httplib::Server m_server;
    std::thread m_thread;
    ListenAddress m_address;
    int m_port = -1;

private:
    void install_routes();
    void install_error_handlers();
    // Runs `handler` after the bearer check; answers the check's error otherwise.
    template <class Handler>
    auto mutating(Handler handler) {
        return [this, handler](const httplib::Request& req, httplib::Response& res) {
            if (auto denied = m_auth.check(req.get_header_value("Authorization"))) {
                if (denied->code == ErrorCode::unauthorized) res.set_header("WWW-Authenticate", "Bearer");
                send_error(res, *denied);
                return;
            }
            handler(req, res);
        };
    }
};

void HttpServer::Impl::install_routes() {
    httplib::Server& s = m_server;

    s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        // The page talks to this agent only; no inline content from elsewhere.
        res.set_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src "
            "'self'; img-src 'self' data:");
        res.set_content(m_dashboard, "text/html; charset=utf-8");
    });

    s.Get("/v1", [](const httplib::Request&, httplib::Response& res) {
        json routes = json::array();
        for (const RouteInfo& r : kRoutes) routes.push_back({{"path", r.pattern}, {"methods", r.methods}});
        send_json(res, 200, json{{"routes", routes}, {"docs", "docs/api.md"}});
    });

    s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
        res.set_header("Cache-Control", "no-store");
        res.set_content(render_metrics(m_view.metrics()), kMetricsContentType);
    });

    s.Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
        send_json(res, 200, to_json(m_view.status()));
    });

    s.Get("/v1/observations", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {"signal", "from", "to", "limit"}))
            return send_error(res, *bad);
        if (!req.has_param("signal")) {
            if (req.has_param("from") || req.has_param("to") || req.has_param("limit")) {
                return send_error(
                    res, error(ErrorCode::bad_request,
                               "from, to and limit need `signal`: name the signals to read back "
                               "(comma-separated); without `signal` you get the latest value of each"));
            }
            return send_json(res, 200, to_json(m_view.latest_observation()));
        }
        ObservationQuery query;
        query.signals = split_signals(req);
        if (query.signals.empty()) {
            return send_error(res, error(ErrorCode::bad_request,
                                         "`signal` is empty; name one or more signals, "
                                         "comma-separated"));
        }
        auto from = number_param(req, "from");
        auto to = number_param(req, "to");
        auto limit = limit_param(req, 3600, 100000);
        if (!from) return send_error(res, from.error());
        if (!to) return send_error(res, to.error());
        if (!limit) return send_error(res, limit.error());
        query.from = to_seconds(*from);
        query.to = to_seconds(*to);
        query.limit = *limit;
        if (query.from && query.to && *query.to < *query.from) {
            return send_error(res, error(ErrorCode::bad_request, "`to` is before `from`"));
        }
        auto history = m_view.observations(query);
        if (!history) return send_error(res, history.error());
        send_json(res, 200, to_json(*history));
    });

    const auto recent_query = [](const httplib::Request& req) -> ApiResult<RecentQuery> {
        if (auto bad = reject_unknown_params(req, {"limit", "since"})) return tl::unexpected(*bad);
        RecentQuery query;
        auto limit = limit_param(req, 100, 10000);
        if (!limit) return tl::unexpected(limit.error());
        auto since = number_param(req, "since");
        if (!since) return tl::unexpected(since.error());
        query.limit = *limit;
        query.since = to_seconds(*since);
        return query;
    };
    s.Get("/v1/decisions", [this, recent_query](const httplib::Request& req, httplib::Response& res) {
        auto query = recent_query(req);
        if (!query) return send_error(res, query.error());
        auto records = m_view.decisions(*query);
        if (!records) return send_error(res, records.error());
        json out = json::array();
        for (const auto& d : *records) out.push_back(to_json(d));
        send_json(res, 200, out);
    });
    s.Get("/v1/actions", [this, recent_query](const httplib::Request& req, httplib::Response& res) {
        auto query = recent_query(req);
        if (!query) return send_error(res, query.error());
        auto records = m_view.actions(*query);
        if (!records) return send_error(res, records.error());
        json out = json::array();
        for (const auto& a : *records) out.push_back(to_json(a));
        send_json(res, 200, out);
    });

    // Commands take no parameters: an empty body or {} only, so a misspelt option is not ignored.
    const auto empty_body = [](const httplib::Request& req) -> std::optional<ApiError> {
        if (auto bad = reject_unknown_params(req, {})) return bad;
        auto body = parse_body(req, true);
        if (!body) return body.error();
        if (!body->is_object() || !body->empty()) {
            return error(ErrorCode::validation_failed,
                         fmt::format("{} takes no parameters; send an empty body or {{}}", req.path));
        }
        return std::nullopt;
    };
    s.Post("/v1/optimize", mutating([this, empty_body](const httplib::Request& req, httplib::Response& res) {
               if (auto bad = empty_body(req)) return send_error(res, *bad);
               auto result = m_view.optimize_now();
               if (!result) return send_error(res, result.error());
               send_json(res, 200, to_json(*result));
           }));
    s.Post("/v1/rollback", mutating([this, empty_body](const httplib::Request& req, httplib::Response& res) {
               if (auto bad = empty_body(req)) return send_error(res, *bad);
               auto result = m_view.rollback();
               if (!result) return send_error(res, result.error());
               send_json(res, 200, to_json(*result));
           }));

    s.Get("/v1/policy", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
        send_json(res, 200, to_json(m_view.policy()));
    });
    s.Put("/v1/policy", mutating([this](const httplib::Request& req, httplib::Response& res) {
              if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
              auto body = parse_body(req, false);
              if (!body) return send_error(res, body.error());
              auto spec = parse_policy_spec(*body);
              if (!spec) return send_error(res, spec.error());
              auto result = m_view.set_policy(*spec);
              if (!result) return send_error(res, result.error());
              send_json(res, 200, to_json(*result));
          }));

    s.Post("/v1/requests", mutating([this](const httplib::Request& req, httplib::Response& res) {
               if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
               auto body = parse_body(req, false);
               if (!body) return send_error(res, body.error());
               auto records = parse_request_records(*body);
               if (!records) return send_error(res, records.error());
               auto accepted = m_view.add_requests(*records);
               if (!accepted) return send_error(res, accepted.error());
               send_json(res, 202, to_json(*accepted));
           }));
    s.Get("/v1/requests", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {"model", "from", "to"})) return send_error(res, *bad);
        ModelQuery query;
        if (req.has_param("model")) query.model = req.get_param_value("model");
        auto from = number_param(req, "from");
        if (!from) return send_error(res, from.error());
        auto to = number_param(req, "to");
        if (!to) return send_error(res, to.error());
        query.from = to_seconds(*from);
        query.to = to_seconds(*to);
        auto models = m_view.model_energy(query);
        if (!models) return send_error(res, models.error());
        json out = json::array();
        for (const auto& m : *models) out.push_back(to_json(m));
        send_json(res, 200, json{{"models", out}});
    });
    s.Get(R"(/v1/requests/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
        if (auto bad = reject_unknown_params(req, {})) return send_error(res, *bad);
        const std::string id = req.matches[1];
        if (!valid_request_id(id)) {
            return send_error(
                res, error(ErrorCode::bad_request,
                           fmt::format("'{}' is not a request id: ids are 1..{} characters of letters, "
                                       "digits and . _ : @ -",
                                       id.substr(0, 200), kMaxIdLength)));
        }
        auto energy = m_view.request_energy(id);
        if (!energy) return send_error(res, energy.error());
        send_json(res, 200, to_json(*energy));
    });
}

void HttpServer::Impl::install_error_handlers() {
    // Called for every answer with status >= 400; ours already carry a JSON body and pass through.
    const httplib::Server::HandlerWithResponse handler = [](const httplib::Request& req,
                                                            httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 404) {
            for (const RouteInfo& route : kRoutes) {
                if (std::regex_match(req.path, std::regex(std::string(route.pattern)))) {
                    res.set_header("Allow", std::string(route.methods));
                    send_error(res, error(ErrorCode::method_not_allowed,
                                          fmt::format("{} does not answer {}; it answers {}", req.path,
                                                      req.method, route.methods)));
                    return httplib::Server::HandlerResponse::Handled;
                }
            }
            send_error(res, error(ErrorCode::not_found,
                                  fmt::format("no route {} {}; GET /v1 lists the routes (docs/api.md)",
                                              req.method, req.path)));
        } else if (res.status == 413) {
            send_error(res,
                       ApiError{ErrorCode::payload_too_large,
                                "the request body is too large; the limit is [api] max_body_bytes; split "
                                "request records into several posts",
                                {}});
        } else {
            const int status = res.status;
            send_json(
                res, status,
                json{{"error",
                      {{"code", status == 400 ? "bad_request" : "http_" + std::to_string(status)},
                       {"message", fmt::format("the request could not be read (HTTP {}); check the request "
                                               "line, headers and Content-Length",
                                               status)}}}});
        }
        return httplib::Server::HandlerResponse::Handled;
    };
    m_server.set_error_handler(handler);
    // No exception leaves a handler: it becomes a 500 naming what failed (and is logged).
    m_server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                      std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
            what = "a non-standard exception";
        }
        spdlog::error("api: {} {} failed: {}", req.method, req.path, what);
        send_error(res,
                   error(ErrorCode::internal, fmt::format("{} {} failed inside the agent: {}; this is a bug, "
                                                          "please report it with the agent's log",
                                                          req.method, req.path, what)));
    });
}

core::Result<void> HttpServer::Impl::start() {
    if (m_port >= 0) return core::fail("api: the server is already started");
    auto address = parse_listen_address(m_options.listen);
    if (!address) return core::fail("api: " + address.error().message);
    if (auto ok = m_auth.validate(); !ok) return ok;
    if (!m_auth.enabled()) {
        spdlog::warn(
            "api: no [api] token_file configured: mutating calls (optimize, rollback, policy, requests) "
            "are refused");
    }
    m_address = *address;
    m_dashboard = dashboard_html();
    install_routes();
    install_error_handlers();

    const std::size_t threads = std::max<std::size_t>(1, m_options.threads);
    m_server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    m_server.set_payload_max_length(m_options.max_body_bytes);
    const auto usec = [](core::Seconds s) {
        return std::chrono::microseconds(std::llround(s.value() * 1e6));
    };
    m_server.set_read_timeout(usec(m_options.read_timeout));
    m_server.set_write_timeout(usec(m_options.write_timeout));
    m_server.set_keep_alive_timeout(
        static_cast<time_t>(std::max(1.0, std::ceil(m_options.keep_alive_timeout.value()))));
    m_server.set_keep_alive_max_count(m_options.keep_alive_max_requests);
    // Headers and body go out in separate writes; with Nagle on, the second waits for the client's
    // delayed ACK (40 ms on Linux) on every keep-alive request.
    m_server.set_tcp_nodelay(true);

    // cpp-httplib's default also sets SO_REUSEPORT, which would let a second agent share the port
    // silently; keep SO_REUSEADDR only (a restart may rebind while old connections sit in TIME_WAIT).
    m_server.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    if (m_address.port == 0) {
        m_port = m_server.bind_to_any_port(m_address.host);
    } else {
        m_port = m_server.bind_to_port(m_address.host, m_address.port) ? m_address.port : -1;
    }
    if (m_port < 0) {
        m_port = -1;
        return core::fail(
            fmt::format("api: cannot listen on {}: {} (is another agent or program using the port? "
                        "choose another with --listen or [api] listen)",
                        m_options.listen, std::strerror(errno)));
    }
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    // stop() before the accept loop runs would be lost; wait until it does (it starts at once).
    for (int i = 0; i < 5000 && !m_server.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    spdlog::info("api: listening on http://{}:{}", m_address.host, m_port);
    return {};
}

void HttpServer::Impl::stop() {
    if (!m_thread.joinable()) return;
    m_server.stop();
    m_thread.join();  // listen_after_bind returns once the pool has finished the requests in flight
}

HttpServer::HttpServer(AgentView& view, HttpServerOptions options)
    : m_impl(std::make_unique<Impl>(view, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

core::Result<void> HttpServer::start() { return m_impl->start(); }
void HttpServer::stop() { m_impl->stop(); }
bool HttpServer::running() const { return m_impl->m_server.is_running(); }
int HttpServer::port() const { return m_impl->m_port; }

std::string HttpServer::url() const {
    const std::string& host = m_impl->m_address.host;
    const bool v6 = host.find(':') != std::string::npos;
    return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", m_impl->m_port);
}

}  // namespace joulepilot::serve
