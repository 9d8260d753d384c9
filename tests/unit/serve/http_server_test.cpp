// HttpServer on 127.0.0.1, port 0, in front of the FakeAgentView test double: every route, the bearer
// token check, the shapes of errors (400, 401, 403, 404, 405, 413, 422), /metrics and the dashboard.
#include "serve/http_server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "unit/serve/exposition_parser.hpp"
#include "unit/serve/fake_agent_view.hpp"

namespace joulepilot::serve {
namespace {

using nlohmann::json;
using testing::FakeAgentView;

constexpr const char* kToken = "s3cret-token-for-tests-0123456789";

class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        m_path = std::filesystem::temp_directory_path() /
                 ("jp-serve-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    [[nodiscard]] std::filesystem::path write(const std::string& name, const std::string& text) const {
        const auto path = m_path / name;
        std::ofstream(path) << text;
        std::filesystem::permissions(
            path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        return path;
    }

private:
    std::filesystem::path m_path;
};

std::atomic<int> g_compare_calls{0};
bool counting_compare(std::string_view a, std::string_view b) {
    ++g_compare_calls;
    return constant_time_equal(a, b);
}

class HttpServerTest : public ::testing::Test {
protected:
    void SetUp() override { start_server(default_options()); }

    HttpServerOptions default_options() const {
        HttpServerOptions options;
        options.listen = "127.0.0.1:0";
        options.threads = 4;
        options.token_file = m_dir.write("token", std::string(kToken) + "\n");
        options.token_compare = &counting_compare;
        return options;
    }

    void start_server(HttpServerOptions options) {
        m_server.reset();
        m_server = std::make_unique<HttpServer>(m_view, std::move(options));
        auto started = m_server->start();
        ASSERT_TRUE(started) << started.error().message;
        ASSERT_GT(m_server->port(), 0);
    }

    [[nodiscard]] httplib::Client client() const {
        httplib::Client c("127.0.0.1", m_server->port());
        c.set_read_timeout(10, 0);
        c.set_connection_timeout(5, 0);
        return c;
    }
    static httplib::Headers auth(const std::string& token = kToken) {
        return {{"Authorization", "Bearer " + token}};
    }

    static json body_of(const httplib::Result& r) { return json::parse(r->body); }

    // Every error is {"error": {"code", "message"}} with a non-empty message.
    static void expect_error(const httplib::Result& r, int status, const std::string& code,
                             const std::string& message_part = "") {
        ASSERT_TRUE(r) << "no response: " << httplib::to_string(r.error());
        EXPECT_EQ(r->status, status) << r->body;
        EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
        const json body = json::parse(r->body);
        ASSERT_TRUE(body.contains("error")) << r->body;
        EXPECT_EQ(body["error"]["code"], code) << r->body;
        const std::string message = body["error"]["message"];
        EXPECT_FALSE(message.empty());
        if (!message_part.empty()) {
            EXPECT_NE(message.find(message_part), std::string::npos) << message;
        }
    }

    TempDir m_dir;
    FakeAgentView m_view;
    std::unique_ptr<HttpServer> m_server;
};

TEST_F(HttpServerTest, StatusServesTheAgentStatus) {
    auto r = client().Get("/v1/status");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    const json s = body_of(r);
    EXPECT_EQ(s["world"], "twin");
    EXPECT_EQ(s["policy"], "threshold");
    EXPECT_EQ(s["shield_mode"], "dry_run");
    EXPECT_EQ(s["ticks"], 125);
    EXPECT_EQ(s["tick_deadline_misses"], 2);
    EXPECT_EQ(s["sensor_errors"]["nvml"], 3);
    EXPECT_EQ(s["ledger"]["dropped"], 4);
    EXPECT_EQ(s["ledger"]["last_error"], "disk full");
    EXPECT_DOUBLE_EQ(s["efficiency"]["energy_per_token_joules"].get<double>(), 0.42);
    EXPECT_TRUE(s["efficiency"]["energy_per_request_joules"].is_null());
    ASSERT_EQ(s["knobs"].size(), 2U);
    EXPECT_EQ(s["knobs"][0]["name"], "gpu.0.power_limit_watts");
    EXPECT_FALSE(s["knobs"][0]["disabled"].get<bool>());
    EXPECT_TRUE(s["knobs"][0]["disabled_reason"].is_null());
    EXPECT_TRUE(s["knobs"][1]["disabled"].get<bool>());
    EXPECT_EQ(s["knobs"][1]["disabled_reason"], "2 failed writes in a row");
}

TEST_F(HttpServerTest, ObservationsWithoutSignalGiveTheLatestOfEach) {
    auto r = client().Get("/v1/observations");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const json o = body_of(r);
    EXPECT_EQ(o["time"], 1000.0);
    ASSERT_EQ(o["signals"].size(), 4U);
    EXPECT_EQ(o["signals"][0]["name"], "gpu.0.power_watts");
    EXPECT_EQ(o["signals"][0]["value"], 412.5);
    EXPECT_FALSE(o["signals"][0]["missing"].get<bool>());
    EXPECT_TRUE(o["signals"][3]["value"].is_null());
    EXPECT_TRUE(o["signals"][3]["missing"].get<bool>());
}

TEST_F(HttpServerTest, ObservationSeriesPassTheQueryThrough) {
    auto r = client().Get("/v1/observations?signal=gpu.0.power_watts&from=990&to=1000.5&limit=10");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json h = body_of(r);
    ASSERT_EQ(h["series"].size(), 1U);
    EXPECT_EQ(h["series"][0]["points"], json::parse("[[999.0, 400.0], [1000.0, null]]"));
    const ObservationQuery q = m_view.last_observation_query();
    ASSERT_EQ(q.signals.size(), 1U);
    EXPECT_EQ(q.from->value(), 990.0);
    EXPECT_EQ(q.to->value(), 1000.5);
    EXPECT_EQ(q.limit, 10U);
}

TEST_F(HttpServerTest, SeveralSignalsSplitOnCommasAndUnknownOnesAre404) {
    auto r = client().Get("/v1/observations?signal=gpu.0.power_watts,gpu.9.power_watts");
    expect_error(r, 404, "not_found", "gpu.9.power_watts");
    EXPECT_EQ(m_view.last_observation_query().signals.size(), 2U);
}

TEST_F(HttpServerTest, BadQueryParametersAre400WithTheParameterNamed) {
    expect_error(client().Get("/v1/observations?signal=gpu.0.power_watts&from=yesterday"), 400, "bad_request",
                 "from=yesterday");
    expect_error(client().Get("/v1/observations?signal=gpu.0.power_watts&limit=0"), 400, "bad_request",
                 "limit");
    expect_error(client().Get("/v1/observations?sigal=gpu.0.power_watts"), 400, "bad_request", "sigal");
    expect_error(client().Get("/v1/observations?from=1"), 400, "bad_request", "need `signal`");
    expect_error(client().Get("/v1/observations?signal=gpu.0.power_watts&from=10&to=5"), 400, "bad_request");
    expect_error(client().Get("/v1/decisions?limit=-3"), 400, "bad_request", "limit");
    expect_error(client().Get("/v1/status?verbose=1"), 400, "bad_request", "verbose");
}

TEST_F(HttpServerTest, DecisionsAndActionsCarryRationaleAndOutcome) {
    auto r = client().Get("/v1/decisions?limit=5&since=100");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const json d = body_of(r);
    ASSERT_EQ(d.size(), 1U);
    EXPECT_NE(d[0]["rationale"].get<std::string>().find("lower the power limit"), std::string::npos);
    EXPECT_EQ(d[0]["settings"][0]["knob"], "gpu.0.power_limit_watts");
    EXPECT_EQ(d[0]["predicted"]["power_watts"], 380.0);
    EXPECT_EQ(m_view.last_recent_query().limit, 5U);
    EXPECT_EQ(m_view.last_recent_query().since->value(), 100.0);

    r = client().Get("/v1/actions");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const json a = body_of(r);
    EXPECT_EQ(a[0]["outcome"], "not_written");
    EXPECT_EQ(a[0]["decision_id"], 1);
    EXPECT_EQ(m_view.last_recent_query().limit, 100U);  // the default
    EXPECT_FALSE(m_view.last_recent_query().since.has_value());
}

TEST_F(HttpServerTest, PolicyGetShowsNameParamsAndChoices) {
    auto r = client().Get("/v1/policy");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const json p = body_of(r);
    EXPECT_EQ(p["name"], "threshold");
    EXPECT_EQ(p["params"]["util_low"], 0.3);
    EXPECT_EQ(p["available"].size(), 3U);
}

TEST_F(HttpServerTest, MutatingCallsNeedTheToken) {
    expect_error(client().Post("/v1/optimize", "", "application/json"), 401, "unauthorized",
                 "Authorization: Bearer");
    auto wrong = client().Post("/v1/optimize", auth("not-the-token-at-all-000"), "", "application/json");
    expect_error(wrong, 401, "unauthorized", "wrong bearer token");
    EXPECT_EQ(wrong->get_header_value("WWW-Authenticate"), "Bearer");
    expect_error(client().Post("/v1/rollback", {{"Authorization", kToken}}, "", "application/json"), 401,
                 "unauthorized");
    expect_error(client().Put("/v1/policy", auth(std::string(kToken) + "x"), R"({"name":"static"})",
                              "application/json"),
                 401, "unauthorized");
    expect_error(client().Post("/v1/requests", R"({})", "application/json"), 401, "unauthorized");
    EXPECT_EQ(m_view.optimize_calls, 0);
    EXPECT_EQ(m_view.rollback_calls, 0);
    EXPECT_EQ(m_view.set_policy_calls, 0);
    EXPECT_EQ(m_view.add_requests_calls, 0);

    auto ok = client().Post("/v1/optimize", auth(), "", "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
    EXPECT_EQ(m_view.optimize_calls, 1);
    // The scheme is case-insensitive (RFC 7235).
    ok = client().Post("/v1/rollback", {{"Authorization", std::string("bearer ") + kToken}}, "{}",
                       "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
    EXPECT_EQ(body_of(ok)["message"], "restored 2 knobs");
    EXPECT_EQ(m_view.rollback_calls, 1);
}

TEST_F(HttpServerTest, EveryTokenCheckGoesThroughTheConstantTimeCompare) {
    EXPECT_EQ(HttpServerOptions{}.token_compare, &constant_time_equal);
    const int before = g_compare_calls;
    (void)client().Post("/v1/optimize", auth("wrong-token-of-some-length"), "", "application/json");
    (void)client().Post("/v1/optimize", auth("x"), "", "application/json");  // another length: same path
    (void)client().Post("/v1/optimize", auth(), "", "application/json");
    EXPECT_EQ(g_compare_calls - before, 3);
}

TEST_F(HttpServerTest, RotatedTokenFileTakesEffectAtOnce) {
    const std::string rotated = "rotated-token-0123456789abcdef";
    (void)m_dir.write("token", rotated);
    expect_error(client().Post("/v1/optimize", auth(), "", "application/json"), 401, "unauthorized");
    auto r = client().Post("/v1/optimize", auth(rotated), "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, WithoutTokenFileMutatingCallsAre403AndSayHowToConfigure) {
    HttpServerOptions options = default_options();
    options.token_file.clear();
    start_server(options);
    expect_error(client().Post("/v1/optimize", auth(), "", "application/json"), 403, "forbidden",
                 "token_file");
    expect_error(client().Put("/v1/policy", auth(), R"({"name":"static"})", "application/json"), 403,
                 "forbidden");
    EXPECT_EQ(m_view.optimize_calls, 0);
    EXPECT_EQ(m_view.set_policy_calls, 0);
    // Reads stay open.
    auto r = client().Get("/v1/status");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, CommandsRefuseParameters) {
    expect_error(client().Post("/v1/optimize", auth(), R"({"force": true})", "application/json"), 422,
                 "validation_failed", "no parameters");
    expect_error(client().Post("/v1/optimize", auth(), "{oops", "application/json"), 400, "bad_request",
                 "not valid JSON");
    EXPECT_EQ(m_view.optimize_calls, 0);
}

TEST_F(HttpServerTest, ViewErrorsKeepTheirStatusAndMessage) {
    m_view.optimize_answer = api_fail(ErrorCode::unavailable, "the control loop did not take the command");
    expect_error(client().Post("/v1/optimize", auth(), "", "application/json"), 503, "unavailable",
                 "did not take");
}

TEST_F(HttpServerTest, PutPolicyValidatesTheBody) {
    auto r = client().Put("/v1/policy", auth(), R"({"name": "idle-fsm", "params": {"sm_idle": 0.1}})",
                          "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(body_of(r)["name"], "idle-fsm");
    EXPECT_EQ(m_view.last_policy_spec().name, "idle-fsm");
    EXPECT_EQ(m_view.last_policy_spec().params["sm_idle"], 0.1);

    expect_error(
        client().Put("/v1/policy", auth(), R"({"name": "static", "mode": "fast"})", "application/json"), 422,
        "validation_failed", "mode");
    expect_error(client().Put("/v1/policy", auth(), R"({"name": 5})", "application/json"), 422,
                 "validation_failed", "must be a string");
    expect_error(client().Put("/v1/policy", auth(), R"({"params": {}})", "application/json"), 422,
                 "validation_failed", "name");
    expect_error(client().Put("/v1/policy", auth(), R"({"name": "static",)", "application/json"), 400,
                 "bad_request", "not valid JSON");
    expect_error(client().Put("/v1/policy", auth(), "", "application/json"), 400, "bad_request",
                 "needs a JSON body");
    EXPECT_EQ(m_view.set_policy_calls, 1);

    // The agent's own validation (unknown policy, bad parameter) comes back with its details.
    m_view.set_policy_answer = api_fail(ErrorCode::validation_failed, "policy 'mpc2' is unknown",
                                        {"name: known are static, threshold"});
    r = client().Put("/v1/policy", auth(), R"({"name": "mpc2"})", "application/json");
    expect_error(r, 422, "validation_failed", "mpc2");
    EXPECT_EQ(body_of(r)["error"]["details"][0], "name: known are static, threshold");
}

TEST_F(HttpServerTest, PostRequestsAcceptsOneOrMany) {
    auto r =
        client().Post("/v1/requests", auth(),
                      R"({"id": "req-1", "start": 10.5, "end": 12, "input_tokens": 100, "output_tokens": 50,
                               "model": "llama-3.1-8b", "gpu": 0})",
                      "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202) << r->body;
    EXPECT_EQ(body_of(r)["accepted"], 1);
    r = client().Post(
        "/v1/requests", auth(),
        R"([{"id": "a", "start": 1, "end": 2, "input_tokens": 1, "output_tokens": 2, "model": "m", "gpu": [0, 1]},
                          {"id": "b", "start": 1, "end": 1, "input_tokens": 0, "output_tokens": 0, "model": "m", "gpu": 3}])",
        "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 202) << r->body;
    EXPECT_EQ(body_of(r)["accepted"], 2);
    const auto posted = m_view.posted();
    ASSERT_EQ(posted.size(), 3U);
    EXPECT_EQ(posted[0].start.value(), 10.5);
    EXPECT_EQ(posted[1].gpus, (std::vector<int>{0, 1}));
    EXPECT_EQ(posted[2].gpus, (std::vector<int>{3}));
}

TEST_F(HttpServerTest, InvalidRequestRecordsAre422AndNothingIsRecorded) {
    const auto post = [&](const std::string& body) {
        return client().Post("/v1/requests", auth(), body, "application/json");
    };
    expect_error(
        post(
            R"({"id": "x", "start": 5, "end": 4, "input_tokens": 1, "output_tokens": 1, "model": "m", "gpu": 0})"),
        422, "validation_failed", "end must be >= start");
    expect_error(
        post(
            R"({"id": "x", "start": 1, "end": 4, "input_tokens": "12", "output_tokens": 1, "model": "m", "gpu": 0})"),
        422, "validation_failed", "input_tokens");
    expect_error(
        post(
            R"({"id": "x", "start": 1, "end": 4, "input_tokens": 1, "output_tokens": 1.5, "model": "m", "gpu": 0})"),
        422, "validation_failed", "output_tokens");
    expect_error(
        post(
            R"({"id": "x", "start": 1, "end": 4, "input_tokens": 1, "output_tokens": 1, "model": "m", "gpu": 0, "user": "bob"})"),
        422, "validation_failed", "user: unknown field");
    expect_error(
        post(
            R"([{"id": "ok", "start": 1, "end": 4, "input_tokens": 1, "output_tokens": 1, "model": "m", "gpu": 0}, 7])"),
        422, "validation_failed", "[1]");
    expect_error(post("[]"), 422, "validation_failed", "empty array");
    expect_error(post(R"({"id": "x")"), 400, "bad_request", "not valid JSON");
    EXPECT_EQ(m_view.add_requests_calls, 0);
    EXPECT_TRUE(m_view.posted().empty());
}

TEST_F(HttpServerTest, HugeBodiesAre413) {
    HttpServerOptions options = default_options();
    options.max_body_bytes = 4096;
    start_server(options);
    const std::string big = "[" + std::string(8000, ' ') + "]";
    expect_error(client().Post("/v1/requests", auth(), big, "application/json"), 413, "payload_too_large",
                 "max_body_bytes");
    EXPECT_EQ(m_view.add_requests_calls, 0);
}

TEST_F(HttpServerTest, DefaultBodyLimitIsOneMebibyte) {
    EXPECT_EQ(HttpServerOptions{}.max_body_bytes, 1024U * 1024U);
    const std::string big(1024U * 1024U + 1, ' ');
    auto r = client().Put("/v1/policy", auth(), big, "application/json");
    // The server may close the connection before the client finishes writing; when it answers, it is 413.
    if (r) expect_error(r, 413, "payload_too_large");
    EXPECT_EQ(m_view.set_policy_calls, 0);
}

TEST_F(HttpServerTest, RequestEnergyByIdAndPerModel) {
    auto r = client().Get("/v1/requests/req-1");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const json e = body_of(r);
    EXPECT_EQ(e["energy_joules"], 21.0);
    EXPECT_EQ(e["joules_per_token"], 0.42);
    EXPECT_EQ(e["request"]["gpu"], 0);
    EXPECT_EQ(e["status"], "attributed");
    expect_error(client().Get("/v1/requests/nope"), 404, "not_found", "nope");
    expect_error(client().Get("/v1/requests/bad%20id"), 400, "bad_request", "not a request id");

    r = client().Get("/v1/requests?model=llama-3.1-8b");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(body_of(r)["models"][0]["energy_joules"], 210.0);
    r = client().Get("/v1/requests?model=other");
    ASSERT_TRUE(r);
    EXPECT_TRUE(body_of(r)["models"].empty());
}

TEST_F(HttpServerTest, UnknownPathsAre404AndWrongMethods405AsJson) {
    expect_error(client().Get("/v2/status"), 404, "not_found", "GET /v1");
    auto r = client().Delete("/v1/status");
    expect_error(r, 405, "method_not_allowed", "GET");
    EXPECT_EQ(r->get_header_value("Allow"), "GET");
    r = client().Get("/v1/optimize");
    expect_error(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "POST");
    r = client().Post("/v1/policy", auth(), "{}", "application/json");
    expect_error(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), "GET, PUT");
    expect_error(client().Delete("/v1/requests/req-1"), 405, "method_not_allowed");
}

TEST_F(HttpServerTest, RouteIndexListsEveryRoute) {
    auto r = client().Get("/v1");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_GE(body_of(r)["routes"].size(), 11U);
}

TEST_F(HttpServerTest, MetricsAreValidTextExposition) {
    auto r = client().Get("/metrics");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    auto parsed = testing::parse_exposition(r->body);
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->value("joulepilot_gpu_power_watts", {{"gpu", "0"}}), 412.5);
    EXPECT_EQ(parsed->types["joulepilot_gpu_energy_joules_total"], "counter");
    EXPECT_EQ(parsed->value("joulepilot_cpu_package_energy_joules_total", {{"package", "0"}}), 8000.0);
    EXPECT_EQ(parsed->value("joulepilot_tick_deadline_misses_total"), 2.0);
    EXPECT_EQ(parsed->value("joulepilot_sensor_errors_total", {{"sensor", "nvml"}}), 3.0);
    EXPECT_EQ(parsed->value("joulepilot_ledger_rows_dropped_total"), 4.0);
    EXPECT_EQ(parsed->value("joulepilot_knob_value", {{"knob", "replica.0.batch_cap"}}), 128.0);
    EXPECT_EQ(parsed->value("joulepilot_model_energy_joules_total", {{"model", "llama-3.1-8b"}}), 210.0);
    // Missing values are left out, never 0.
    EXPECT_FALSE(parsed->value("joulepilot_slo_attainment_ratio").has_value());
}

TEST_F(HttpServerTest, DashboardIsOneSelfContainedPage) {
    auto r = client().Get("/");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(r->body.find("Chart.js v3"), std::string::npos);  // inlined, not fetched
    EXPECT_NE(r->body.find("render-check"), std::string::npos);
    for (const char* external : {"src=\"http", "href=\"http", "src='http", "@import"}) {
        EXPECT_EQ(r->body.find(external), std::string::npos) << external;
    }
    EXPECT_NE(r->get_header_value("Content-Security-Policy").find("connect-src 'self'"), std::string::npos);
}

TEST_F(HttpServerTest, ManyConcurrentReadersAllServed) {
    std::vector<std::future<int>> results;
    for (int i = 0; i < 8; ++i) {
        results.push_back(std::async(std::launch::async, [this] {
            int ok = 0;
            auto c = client();
            for (int k = 0; k < 25; ++k) {
                auto r = c.Get("/v1/status");
                ok += (r && r->status == 200) ? 1 : 0;
            }
            return ok;
        }));
    }
    int total = 0;
    for (auto& f : results) total += f.get();
    EXPECT_EQ(total, 200);
}

TEST_F(HttpServerTest, StopFinishesTheRequestInFlightAndIsIdempotent) {
    std::promise<void> entered;
    std::promise<void> release;
    auto release_future = release.get_future().share();
    m_view.optimize_hook = [&entered, release_future] {
        entered.set_value();
        release_future.wait();
    };
    auto in_flight = std::async(
        std::launch::async, [this] { return client().Post("/v1/optimize", auth(), "", "application/json"); });
    entered.get_future().wait();
    auto stopper = std::async(std::launch::async, [this] { m_server->stop(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release.set_value();
    stopper.get();
    auto r = in_flight.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    m_server->stop();
    EXPECT_FALSE(client().Get("/v1/status"));
}

TEST(HttpServerStart, ReportsTheBoundPortAndUrl) {
    FakeAgentView view;
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    HttpServer server(view, options);
    ASSERT_TRUE(server.start());
    EXPECT_GT(server.port(), 0);
    EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()));
    EXPECT_TRUE(server.running());
}

TEST(HttpServerStart, PortInUseFailsNamingTheAddress) {
    FakeAgentView view;
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    HttpServer first(view, options);
    ASSERT_TRUE(first.start());
    options.listen = "127.0.0.1:" + std::to_string(first.port());
    HttpServer second(view, options);
    auto started = second.start();
    ASSERT_FALSE(started);
    EXPECT_NE(started.error().message.find("cannot listen on " + options.listen), std::string::npos)
        << started.error().message;
}

TEST(HttpServerStart, BadTokenFileFailsTheStart) {
    FakeAgentView view;
    TempDir dir;
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.token_file = dir.write("short", "abc\n");
    auto started = HttpServer(view, options).start();
    ASSERT_FALSE(started);
    EXPECT_NE(started.error().message.find("fewer than 16"), std::string::npos) << started.error().message;
    options.token_file = dir.write("missing-dir", "x").parent_path() / "nope" / "token";
    started = HttpServer(view, options).start();
    ASSERT_FALSE(started);
    EXPECT_NE(started.error().message.find("cannot read"), std::string::npos) << started.error().message;
}

TEST(ListenAddress, ParsesHostAndPort) {
    auto a = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    a = parse_listen_address("[::1]:0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "::1");
    EXPECT_EQ(a->port, 0);
    for (const char* bad :
         {"localhost", ":9464", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:http", "[::1:80"}) {
        auto r = parse_listen_address(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("host:port"), std::string::npos);
    }
}

TEST(ApiConfig, ReadsTheApiSection) {
    auto doc = core::ConfigDocument::parse(R"([api]
listen = "0.0.0.0:9000"
token_file = "/etc/joulepilot/token"
threads = 4
max_body_bytes = 65536
)",
                                           "test.toml");
    const HttpServerOptions o = read_http_server_options(doc.root().section("api"));
    EXPECT_EQ(o.listen, "0.0.0.0:9000");
    EXPECT_EQ(o.token_file, "/etc/joulepilot/token");
    EXPECT_EQ(o.threads, 4U);
    EXPECT_EQ(o.max_body_bytes, 65536U);
    doc.reject_unknown_keys();

    auto defaults = core::ConfigDocument::empty();
    EXPECT_EQ(read_http_server_options(defaults.root().section("api")).listen, "127.0.0.1:9464");

    auto bad = core::ConfigDocument::parse("[api]\nlisten = \"9464\"\n", "bad.toml");
    EXPECT_THROW((void)read_http_server_options(bad.root().section("api")), core::ConfigError);
    auto zero = core::ConfigDocument::parse("[api]\nthreads = 0\n", "zero.toml");
    EXPECT_THROW((void)read_http_server_options(zero.root().section("api")), core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::serve
