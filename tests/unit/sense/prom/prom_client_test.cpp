#include "sense/prom/prom_client.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/sense/prom/fake_prometheus.hpp"

namespace joulepilot::sense {
namespace {

using ::testing::HasSubstr;

PromClient make_client(const std::string& url,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000),
                       std::filesystem::path token_file = {}) {
    PromClientOptions options;
    options.url = url;
    options.timeout = timeout;
    options.connect_timeout = std::min(timeout, std::chrono::milliseconds(1000));
    options.bearer_token_file = std::move(token_file);
    auto client = PromClient::create(options);
    EXPECT_TRUE(client.has_value()) << client.error().message;
    return std::move(*client);
}

TEST(ParseSampleValue, NumbersNanAndInfinities) {
    EXPECT_DOUBLE_EQ(parse_sample_value("1.5").value().value(), 1.5);
    EXPECT_DOUBLE_EQ(parse_sample_value("-2e-3").value().value(), -2e-3);
    EXPECT_DOUBLE_EQ(parse_sample_value("+7").value().value(), 7.0);
    EXPECT_FALSE(parse_sample_value("NaN").value().has_value());
    EXPECT_EQ(parse_sample_value("+Inf").value().value(), INFINITY);
    EXPECT_EQ(parse_sample_value("-Inf").value().value(), -INFINITY);
    EXPECT_FALSE(parse_sample_value("").has_value());
    EXPECT_FALSE(parse_sample_value("12abc").has_value());
    EXPECT_THAT(parse_sample_value("fast").error(), HasSubstr("'fast' is not a number"));
}

TEST(ParseQueryResponse, RejectsShapesThatAreNotInstantValues) {
    auto matrix =
        parse_query_response(R"({"status":"success","data":{"resultType":"matrix","result":[]}})", "q");
    ASSERT_FALSE(matrix.has_value());
    EXPECT_THAT(matrix.error().message, HasSubstr("only instant vectors and scalars are supported"));
    auto str =
        parse_query_response(R"({"status":"success","data":{"resultType":"string","result":[1,"a"]}})", "q");
    ASSERT_FALSE(str.has_value());
    EXPECT_THAT(str.error().message, HasSubstr("the result is a string"));
    auto no_data = parse_query_response(R"({"status":"success"})", "q");
    ASSERT_FALSE(no_data.has_value());
    EXPECT_EQ(no_data.error().kind, PromFailure::response);
    auto bad_pair = parse_query_response(
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}})", "q");
    ASSERT_FALSE(bad_pair.has_value());
    EXPECT_THAT(bad_pair.error().message, HasSubstr("series 0 is not a [time, \"value\"] pair"));
}

TEST(PromClient, RejectsABadUrlAndAMissingTokenFile) {
    PromClientOptions options;
    options.url = "127.0.0.1:9090";
    auto no_scheme = PromClient::create(options);
    ASSERT_FALSE(no_scheme.has_value());
    EXPECT_THAT(no_scheme.error().message, HasSubstr("not http:// or https://"));

    options.url = "http://127.0.0.1:9090";
    options.bearer_token_file = "/nonexistent/joulepilot/token";
    auto no_token = PromClient::create(options);
    ASSERT_FALSE(no_token.has_value());
    EXPECT_THAT(no_token.error().message, HasSubstr("/nonexistent/joulepilot/token: cannot open"));
}

TEST(PromClient, OneElementVector) {
    testing::FakePrometheus server;
    server.reply("up", {200, testing::vector_body({"42.5"})});
    PromClient client = make_client(server.url());

    auto result = client.query("up");
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_EQ(result->type, PromResultType::vector);
    ASSERT_EQ(result->samples.size(), 1U);
    EXPECT_DOUBLE_EQ(result->samples[0].value.value(), 42.5);
    EXPECT_EQ(result->samples[0].labels.at("instance"), "replica-0");

    auto value = client.query_value("up");
    ASSERT_TRUE(value.has_value()) << value.error().message;
    EXPECT_DOUBLE_EQ(value->value(), 42.5);
}

TEST(PromClient, Scalar) {
    testing::FakePrometheus server;
    server.reply("scalar(up)", {200, testing::scalar_body("3.25")});
    PromClient client = make_client(server.url());
    auto result = client.query("scalar(up)");
    ASSERT_TRUE(result.has_value()) << result.error().message;
    EXPECT_EQ(result->type, PromResultType::scalar);
    auto value = client.query_value("scalar(up)");
    ASSERT_TRUE(value.has_value());
    EXPECT_DOUBLE_EQ(value->value(), 3.25);
}

TEST(PromClient, NanIsMissingAndInfinityIsKept) {
    testing::FakePrometheus server;
    server.reply("nan", {200, testing::vector_body({"NaN"})});
    server.reply("inf", {200, testing::scalar_body("+Inf")});
    PromClient client = make_client(server.url());
    auto nan = client.query_value("nan");
    ASSERT_TRUE(nan.has_value()) << nan.error().message;
    EXPECT_FALSE(nan->has_value());
    auto inf = client.query_value("inf");
    ASSERT_TRUE(inf.has_value()) << inf.error().message;
    EXPECT_EQ(inf->value(), INFINITY);
}

TEST(PromClient, EmptyVectorIsNoDataNotAnError) {
    testing::FakePrometheus server;
    server.reply("absent_metric", {200, testing::vector_body({})});
    PromClient client = make_client(server.url());
    auto value = client.query_value("absent_metric");
    ASSERT_TRUE(value.has_value()) << value.error().message;
    EXPECT_FALSE(value->has_value());
}

TEST(PromClient, SeveralElementsNameTheQueryAndSuggestAnAggregation) {
    testing::FakePrometheus server;
    server.reply("rate(x[1m])", {200, testing::vector_body({"1", "2", "3"})});
    PromClient client = make_client(server.url());
    auto all = client.query("rate(x[1m])");
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->samples.size(), 3U);
    auto value = client.query_value("rate(x[1m])");
    ASSERT_FALSE(value.has_value());
    EXPECT_THAT(value.error().message, HasSubstr("query 'rate(x[1m])' at " + server.url()));
    EXPECT_THAT(value.error().message, HasSubstr("yields 3 series"));
    EXPECT_THAT(value.error().message, HasSubstr("sum(rate(x[1m]))"));
}

TEST(PromClient, ErrorStatusSurfacesErrorTypeAndMessage) {
    testing::FakePrometheus server;
    server.reply("sum(",
                 {400, testing::error_body("bad_data", "1:5: parse error: unclosed left parenthesis")});
    server.reply("slow_and_ok",
                 {200, testing::error_body("timeout", "query timed out in expression evaluation")});
    PromClient client = make_client(server.url());
    auto bad = client.query("sum(");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().kind, PromFailure::api);
    EXPECT_THAT(bad.error().message,
                HasSubstr("bad_data: 1:5: parse error: unclosed left parenthesis (HTTP 400)"));
    EXPECT_THAT(bad.error().message, HasSubstr(server.url()));
    auto timeout = client.query("slow_and_ok");
    ASSERT_FALSE(timeout.has_value());
    EXPECT_EQ(timeout.error().kind, PromFailure::api);
    EXPECT_THAT(timeout.error().message, HasSubstr("timeout: query timed out"));
}

TEST(PromClient, HttpServerErrors) {
    testing::FakePrometheus server;
    server.reply("boom", {500, "internal error", "text/plain"});
    server.reply("busy", {503, "Service Unavailable", "text/plain"});
    PromClient client = make_client(server.url());
    auto boom = client.query("boom");
    ASSERT_FALSE(boom.has_value());
    EXPECT_EQ(boom.error().kind, PromFailure::http);
    EXPECT_THAT(boom.error().message,
                HasSubstr("query 'boom' at " + server.url() + ": HTTP 500: internal error"));
    auto busy = client.query("busy");
    ASSERT_FALSE(busy.has_value());
    EXPECT_THAT(busy.error().message, HasSubstr("HTTP 503"));
    EXPECT_THAT(busy.error().message, HasSubstr("not ready"));
}

TEST(PromClient, MalformedJson) {
    testing::FakePrometheus server;
    server.reply("up", {200, R"({"status":"success","data":{)"});
    server.reply("html", {200, "<html>Grafana</html>", "text/html"});
    PromClient client = make_client(server.url());
    auto truncated = client.query("up");
    ASSERT_FALSE(truncated.has_value());
    EXPECT_EQ(truncated.error().kind, PromFailure::response);
    EXPECT_THAT(truncated.error().message,
                HasSubstr("query 'up' at " + server.url() + ": the response is not JSON"));
    auto html = client.query("html");
    ASSERT_FALSE(html.has_value());
    EXPECT_THAT(html.error().message, HasSubstr("<html>Grafana</html>"));
}

TEST(PromClient, ServerThatClosesTheConnection) {
    testing::ClosingServer server;
    PromClient client = make_client(server.url());
    auto result = client.query("up");
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, PromFailure::transport);
    EXPECT_THAT(result.error().message, HasSubstr(server.url()));
    EXPECT_THAT(result.error().message, HasSubstr("closed the connection"));
}

TEST(PromClient, RefusedConnectionSaysWhatToCheck) {
    testing::UnusedPort port;
    PromClient client = make_client(port.url());
    auto result = client.query("up");
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, PromFailure::unreachable);
    EXPECT_THAT(result.error().message, HasSubstr("query 'up' at " + port.url() + ": connection refused"));
    EXPECT_THAT(result.error().message, HasSubstr("[prom] url"));
}

TEST(PromClient, TimeoutWhenTheServerIsSlow) {
    testing::FakePrometheus server;
    server.reply("slow",
                 {200, testing::scalar_body("1"), "application/json", std::chrono::milliseconds(3000)});
    PromClient client = make_client(server.url(), std::chrono::milliseconds(200));
    const auto start = std::chrono::steady_clock::now();
    auto result = client.query("slow");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, PromFailure::transport);
    EXPECT_THAT(result.error().message, HasSubstr("timed out after 200 ms"));
    EXPECT_LT(elapsed, std::chrono::milliseconds(2000));  // bounded by the timeout, not by the server
}

TEST(PromClient, SendsTheBearerTokenFromItsFile) {
    const auto dir = std::filesystem::temp_directory_path() / ("jp_prom_token_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto token_file = dir / "token";
    std::ofstream(token_file) << "s3cr3t-token\n";  // a trailing newline, as `echo` writes it

    testing::FakePrometheus server;
    server.reply("up", {200, testing::scalar_body("1")});
    PromClient with_token = make_client(server.url(), std::chrono::milliseconds(2000), token_file);
    ASSERT_TRUE(with_token.query("up").has_value());
    PromClient without = make_client(server.url());
    ASSERT_TRUE(without.query("up").has_value());

    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].authorization, "Bearer s3cr3t-token");
    EXPECT_EQ(requests[1].authorization, "");

    // The file is read for every query: a rotated token is picked up, a vanished one is an error.
    std::ofstream(token_file) << "rotated";
    ASSERT_TRUE(with_token.query("up").has_value());
    EXPECT_EQ(server.requests().back().authorization, "Bearer rotated");
    std::filesystem::remove_all(dir);
    auto gone = with_token.query("up");
    ASSERT_FALSE(gone.has_value());
    EXPECT_EQ(gone.error().kind, PromFailure::config);
    EXPECT_THAT(gone.error().message, HasSubstr("bearer token file"));
}

TEST(PromClient, QueryIsUrlEncodedAndTimeIsSent) {
    // Characters that break a naive URL: spaces, quotes, braces, brackets, '&', '+', '=', '#', '%' and '|'.
    const std::string promql =
        R"(sum(rate(vllm:request_success_total{model_name="llama 3",route=~"a|b"}[1m])))"
        R"( + 1 & on() vector(2) # %20=)";
    testing::FakePrometheus server;
    server.reply(promql, {200, testing::scalar_body("7")});
    PromClient client = make_client(server.url());
    auto value = client.query_value(promql, core::Seconds(1700000000.5));
    ASSERT_TRUE(value.has_value()) << value.error().message;  // the fake answers only the exact expression
    EXPECT_DOUBLE_EQ(value->value(), 7.0);
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].query, promql);
    EXPECT_EQ(requests[0].time, "1700000000.500");
    EXPECT_THAT(client.query_url(promql, std::nullopt), ::testing::Not(HasSubstr(" ")));
}

TEST(PromClient, TrailingSlashInTheUrlIsDropped) {
    testing::FakePrometheus server;
    server.reply("up", {200, testing::scalar_body("1")});
    PromClient client = make_client(server.url() + "/");
    EXPECT_EQ(client.url(), server.url());
    EXPECT_TRUE(client.query("up").has_value());
}

}  // namespace
}  // namespace joulepilot::sense
