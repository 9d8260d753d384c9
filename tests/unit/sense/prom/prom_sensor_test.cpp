#include "sense/prom/prom_sensor.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config.hpp"
#include "unit/sense/prom/fake_prometheus.hpp"

namespace joulepilot::sense {
namespace {

using ::testing::HasSubstr;

constexpr const char* kTtft = "histogram_quantile(0.99, sum(rate(ttft_bucket[1m])) by (le))";
constexpr const char* kQps = "sum(rate(requests_total[1m]))";

PromSensorOptions two_signals(const std::string& url) {
    PromSensorOptions options;
    options.client.url = url;
    options.client.timeout = std::chrono::milliseconds(1000);
    options.signals = {{"service.ttft_p99_seconds", "s", kTtft, ""},
                       {"service.request_rate_rps", "requests/s", kQps, ""}};
    return options;
}

TEST(PromSensor, EndToEndTwoSignalsOneFailingIsCounted) {
    testing::FakePrometheus server;
    server.reply("1", {200, testing::scalar_body("1")});
    server.reply(kTtft, {200, testing::vector_body({"0.25"})});
    server.reply(kQps, {422, testing::error_body("execution", "many-to-many matching not allowed")});
    core::ManualClock clock(core::Seconds(1700000000.0));
    auto sensor = PromSensor::create(two_signals(server.url()), &clock);
    ASSERT_TRUE(sensor.has_value()) << sensor.error().message;

    const auto signals = (*sensor)->discover();
    ASSERT_EQ(signals.size(), 2U);
    EXPECT_EQ(signals[0].name, "service.ttft_p99_seconds");
    EXPECT_EQ(signals[0].unit, "s");
    EXPECT_EQ(signals[0].provenance, Provenance::measured);
    EXPECT_THAT(signals[1].description, HasSubstr(kQps));
    EXPECT_TRUE((*sensor)->unavailable().empty());

    std::vector<Sample> samples(2, Sample{99.0, true});
    for (int tick = 0; tick < 3; ++tick) {
        ASSERT_TRUE((*sensor)->read(samples).has_value());
        clock.advance(core::Seconds(1));
    }
    EXPECT_TRUE(samples[0].valid);
    EXPECT_DOUBLE_EQ(samples[0].value, 0.25);
    EXPECT_FALSE(samples[1].valid);  // only the failed signal is missing

    const auto& stats = (*sensor)->signal_stats();
    EXPECT_EQ(stats[0].reads, 3U);
    EXPECT_EQ(stats[0].failures, 0U);
    EXPECT_EQ(stats[1].reads, 0U);
    EXPECT_EQ(stats[1].failures, 3U);
    EXPECT_THAT(stats[1].last_error, HasSubstr("execution: many-to-many matching not allowed"));
    EXPECT_THAT(stats[1].last_error, HasSubstr(kQps));

    // Every query of a tick is evaluated at the clock's time.
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 7U);  // the probe, then 2 per tick
    EXPECT_EQ(requests[1].time, "1700000000.000");
    EXPECT_EQ(requests[2].time, "1700000000.000");
    EXPECT_EQ(requests[6].time, "1700000002.000");
}

TEST(PromSensor, NoDataAndInfinityAreMissing) {
    testing::FakePrometheus server;
    server.reply(kTtft, {200, testing::vector_body({"+Inf"})});
    server.reply(kQps, {200, testing::vector_body({})});
    auto sensor = PromSensor::create(two_signals(server.url()));
    ASSERT_TRUE(sensor.has_value());
    (*sensor)->discover();
    std::vector<Sample> samples(2);
    ASSERT_TRUE((*sensor)->read(samples).has_value());
    EXPECT_FALSE(samples[0].valid);
    EXPECT_FALSE(samples[1].valid);
    const auto& stats = (*sensor)->signal_stats();
    EXPECT_EQ(stats[0].failures, 1U);
    EXPECT_THAT(stats[0].last_error, HasSubstr("highest histogram bucket"));
    EXPECT_EQ(stats[1].failures, 0U);
    EXPECT_EQ(stats[1].no_data, 1U);
    EXPECT_TRUE(server.requests()[0].time.empty());  // no clock: the server's now
}

TEST(PromSensor, UnreachableServerIsReportedAtDiscoveryAndSkipsTheTick) {
    testing::UnusedPort port;
    auto sensor = PromSensor::create(two_signals(port.url()));
    ASSERT_TRUE(sensor.has_value());
    EXPECT_EQ((*sensor)->discover().size(), 2U);  // kept: the server may come up later
    const auto missing = (*sensor)->unavailable();
    ASSERT_EQ(missing.size(), 1U);
    EXPECT_EQ(missing[0].what, "Prometheus at " + port.url());
    EXPECT_THAT(missing[0].reason, HasSubstr("connection refused"));
    EXPECT_THAT(missing[0].fix, HasSubstr("start Prometheus at " + port.url()));

    std::vector<Sample> samples(2, Sample{1.0, true});
    auto read = (*sensor)->read(samples);
    ASSERT_FALSE(read.has_value());
    EXPECT_THAT(read.error().message, HasSubstr("connection refused"));
    EXPECT_FALSE(samples[0].valid);
    EXPECT_FALSE(samples[1].valid);
    EXPECT_EQ((*sensor)->signal_stats()[0].failures, 1U);
    EXPECT_EQ((*sensor)->signal_stats()[1].failures, 1U);
}

TEST(PromSensor, CreateRejectsBadSignals) {
    PromSensorOptions options = two_signals("http://127.0.0.1:9");
    options.signals[1].name = "gpu.0.power_watts";
    auto bad_name = PromSensor::create(options);
    ASSERT_FALSE(bad_name.has_value());
    EXPECT_THAT(bad_name.error().message, HasSubstr("must start with \"service.\""));

    options = two_signals("http://127.0.0.1:9");
    options.signals[1].name = options.signals[0].name;
    auto twice = PromSensor::create(options);
    ASSERT_FALSE(twice.has_value());
    EXPECT_THAT(twice.error().message, HasSubstr("listed twice"));

    options = two_signals("http://127.0.0.1:9");
    options.signals[0].query = "  ";
    EXPECT_FALSE(PromSensor::create(options).has_value());
}

TEST(ReadPromOptions, DottedAndQuotedSignalTables) {
    auto doc = core::ConfigDocument::parse(R"toml(
[prom]
url = "http://prometheus.monitoring:9090/"
timeout_s = 0.5
bearer_token_file = "/var/run/secrets/token"

[prom.signals.service.ttft_p99_seconds]
query = "histogram_quantile(0.99, sum(rate(my_ttft_bucket[30s])) by (le))"
unit = "s"

[prom.signals."service.request_rate_rps"]
)toml",
                                           "test.toml");
    const PromSensorOptions options = read_prom_options(doc.root().section("prom"));
    doc.reject_unknown_keys();
    EXPECT_EQ(options.client.url, "http://prometheus.monitoring:9090/");
    EXPECT_EQ(options.client.timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(options.client.connect_timeout, std::chrono::milliseconds(500));  // never above the total
    EXPECT_EQ(options.client.bearer_token_file, "/var/run/secrets/token");
    EXPECT_TRUE(options.client.verify_tls);
    ASSERT_EQ(options.signals.size(), 2U);
    EXPECT_EQ(options.signals[0].name, "service.request_rate_rps");
    EXPECT_EQ(options.signals[0].query, "sum(rate(vllm:request_success_total[1m]))");  // the default
    EXPECT_EQ(options.signals[1].name, "service.ttft_p99_seconds");
    EXPECT_THAT(options.signals[1].query, HasSubstr("my_ttft_bucket"));
}

TEST(ReadPromOptions, VllmPresetEnablesTheCatalogue) {
    auto doc = core::ConfigDocument::parse("[prom]\npreset = \"vllm\"\n", "test.toml");
    const PromSensorOptions options = read_prom_options(doc.root().section("prom"));
    doc.reject_unknown_keys();
    EXPECT_EQ(options.signals.size(), service_signal_catalog().size());
    auto empty = core::ConfigDocument::empty();
    EXPECT_TRUE(read_prom_options(empty.root().section("prom")).signals.empty());
}

TEST(ReadPromOptions, UnknownKeysAndWrongUnitsAreErrors) {
    auto unknown = core::ConfigDocument::parse(R"(
[prom.signals.service.made_up_metric]
query = "up"
[prom.signals.service.ttft_p99_seconds]
qeury = "typo"
)",
                                               "test.toml");
    static_cast<void>(read_prom_options(unknown.root().section("prom")));
    try {
        unknown.reject_unknown_keys();
        FAIL() << "expected unknown keys";
    } catch (const core::ConfigError& e) {
        EXPECT_THAT(e.what(), HasSubstr("prom.signals.service.made_up_metric.query"));
        EXPECT_THAT(e.what(), HasSubstr("prom.signals.service.ttft_p99_seconds.qeury"));
    }

    auto ms =
        core::ConfigDocument::parse("[prom.signals.service.ttft_p99_seconds]\nunit = \"ms\"\n", "test.toml");
    EXPECT_THROW(static_cast<void>(read_prom_options(ms.root().section("prom"))), core::ConfigError);
    auto timeout = core::ConfigDocument::parse("[prom]\ntimeout_s = 0\n", "test.toml");
    EXPECT_THROW(static_cast<void>(read_prom_options(timeout.root().section("prom"))), core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::sense
