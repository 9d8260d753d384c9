// KnobClient and HttpKnobActuator (src/act/http_knob) against the knob endpoint double of
// docs/http_knob.md: listing, all-or-nothing writes, refusals, malformed answers, save/apply/restore.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>

#include "act/http_knob/http_knob_actuator.hpp"
#include "act/shield/safety_shield.hpp"
#include "support/kube_test_double.hpp"
#include "unit/sense/prom/fake_prometheus.hpp"

namespace joulepilot::act {
namespace {

using joulepilot::testing::KnobEndpointDouble;
using ::testing::AllOf;
using ::testing::HasSubstr;

KnobClientOptions options_for(const std::string& url) {
    KnobClientOptions options;
    options.url = url;
    return options;
}

void add_replica_knobs(KnobEndpointDouble& server) {
    server.add("replica.0.batch_cap", {256, 8, 512, 8, {}});
    server.add("replica.0.precision", {0, 0, 1, 0, {0, 1}});
    server.add("replica.1.batch_cap", {128, 8, 512, 8, {}});
    server.add("server.log_level", {1, 0, 3, 1, {}});  // not a serving knob: left alone
}

std::unique_ptr<HttpKnobActuator> make_actuator(const std::string& url) {
    auto client = KnobClient::create(options_for(url));
    if (!client) throw std::runtime_error(client.error().message);
    auto actuator = HttpKnobActuator::create(std::move(*client));
    if (!actuator) throw std::runtime_error(actuator.error().message);
    return std::move(*actuator);
}

TEST(HttpKnobActuator, DiscoversServingKnobsOnly) {
    KnobEndpointDouble server;
    add_replica_knobs(server);
    auto actuator = make_actuator(server.url());
    const auto knobs = actuator->discover();
    ASSERT_EQ(knobs.size(), 3U);
    EXPECT_EQ(knobs[0].name, "replica.0.batch_cap");
    EXPECT_EQ(knobs[0].domain.step, 8);
    EXPECT_EQ(knobs[0].current, 256);
    EXPECT_EQ(knobs[1].name, "replica.0.precision");
    EXPECT_EQ(knobs[1].domain.values, (std::vector<double>{0, 1}));
    EXPECT_EQ(knobs[2].name, "replica.1.batch_cap");
}

TEST(HttpKnobActuator, SaveApplyRestoreInOnePutEach) {
    KnobEndpointDouble server;
    add_replica_knobs(server);
    auto actuator = make_actuator(server.url());
    ASSERT_TRUE(actuator->save().has_value());
    const std::vector<KnobSetting> settings{{"replica.0.batch_cap", 64}, {"replica.0.precision", 1}};
    ASSERT_TRUE(actuator->apply(settings).has_value());
    EXPECT_EQ(server.value("replica.0.batch_cap"), 64);
    EXPECT_EQ(server.value("replica.0.precision"), 1);
    EXPECT_EQ(server.puts(), 1);
    EXPECT_EQ(actuator->current(), (std::vector<double>{64, 1, 128}));
    ASSERT_TRUE(actuator->restore().has_value());
    EXPECT_EQ(server.value("replica.0.batch_cap"), 256);
    EXPECT_EQ(server.value("replica.0.precision"), 0);
    EXPECT_EQ(server.puts(), 2);
}

TEST(HttpKnobActuator, OutOfDomainIsRefusedLocally) {
    KnobEndpointDouble server;
    add_replica_knobs(server);
    auto actuator = make_actuator(server.url());
    const std::vector<KnobSetting> bad{{"replica.0.precision", 2}};
    EXPECT_THAT(actuator->apply(bad).error().message, AllOf(HasSubstr("replica.0.precision"), HasSubstr("domain")));
    const std::vector<KnobSetting> unknown{{"server.log_level", 2}};
    EXPECT_THAT(actuator->apply(unknown).error().message, HasSubstr("unknown knob 'server.log_level'"));
    EXPECT_EQ(server.puts(), 0);
}

TEST(KnobClient, ServerRefusalIsAllOrNothing) {
    KnobEndpointDouble server;
    add_replica_knobs(server);
    auto client = std::move(*KnobClient::create(options_for(server.url())));
    const auto set = client.set({{"replica.0.batch_cap", 64}, {"replica.0.batch_cap_typo", 1}});
    ASSERT_FALSE(set.has_value());
    EXPECT_THAT(set.error().message, AllOf(HasSubstr("422"), HasSubstr("nothing applied"), HasSubstr("typo")));
    EXPECT_EQ(server.value("replica.0.batch_cap"), 256);
}

TEST(KnobClient, ParseRejectsMalformedLists) {
    using nlohmann::json;
    EXPECT_THAT(parse_knob_list(json::parse(R"({"knob": []})"), "k").error().message, HasSubstr("no \"knobs\""));
    EXPECT_THAT(parse_knob_list(json::parse(R"({"knobs": [{"value": 1}]})"), "k").error().message,
                HasSubstr("knobs[0]: no \"name\""));
    EXPECT_THAT(parse_knob_list(json::parse(R"({"knobs": [{"name": "a", "value": 1, "min": 2, "max": 1}]})"), "k")
                    .error()
                    .message,
                HasSubstr("min"));
    EXPECT_THAT(
        parse_knob_list(json::parse(R"({"knobs": [{"name": "a", "value": 9, "min": 0, "max": 4}]})"), "k").error().message,
        HasSubstr("outside its own domain"));
    const auto ok = parse_knob_list(json::parse(R"({"knobs": [{"name": "a", "value": 1, "values": [0, 1]}]})"), "k");
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->front().domain.max, 1);
}

TEST(KnobClient, UnreachableEndpointIsNamed) {
    sense::testing::UnusedPort nothing;
    auto client = KnobClient::create(options_for(nothing.url()));
    ASSERT_TRUE(client.has_value());
    const auto listed = client->list();
    ASSERT_FALSE(listed.has_value());
    EXPECT_THAT(listed.error().message, AllOf(HasSubstr("/v1/knobs"), HasSubstr("connection refused")));
    EXPECT_FALSE(HttpKnobActuator::create(std::move(*client)).has_value());
}

TEST(HttpKnobActuator, ServingKnobNames) {
    EXPECT_TRUE(HttpKnobActuator::is_serving_knob("replica.12.batch_cap"));
    EXPECT_TRUE(HttpKnobActuator::is_serving_knob("replica.0.precision"));
    EXPECT_FALSE(HttpKnobActuator::is_serving_knob("replica.x.precision"));
    EXPECT_FALSE(HttpKnobActuator::is_serving_knob("replica.0.active"));
    EXPECT_FALSE(HttpKnobActuator::is_serving_knob("replica..batch_cap"));
}

// After a crash the endpoint still holds the crashed run's batch cap, which discovery takes for the default:
// the shield's recovery puts the original back and makes it the default again.
TEST(HttpKnobActuator, AfterCrashRecoveryTheOriginalIsTheDefaultAgain) {
    KnobEndpointDouble server;
    add_replica_knobs(server);
    server.add("replica.0.batch_cap", {64, 8, 512, 8, {}});  // the crashed run lowered it from 256
    const auto file = std::filesystem::temp_directory_path() / ("jp-knob-recover-" + std::to_string(::getpid()));
    ASSERT_TRUE(SavedSettingsFile(file).store({{"http-knob", "replica.0.batch_cap", 256}}));
    auto actuator = make_actuator(server.url());
    ASSERT_EQ(actuator->discover()[0].default_value, 64);
    ShieldSettings settings;
    settings.mode = ShieldMode::act;
    settings.allow_unlisted = true;
    settings.state_file = file;
    SafetyShield shield({actuator.get()}, settings);
    const auto recovered = shield.recover();
    ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
    EXPECT_EQ(server.value("replica.0.batch_cap"), 256);
    EXPECT_EQ(shield.knob_space().get("replica.0.batch_cap")->default_value, 256);
    EXPECT_EQ(shield.knob_space().get("replica.1.batch_cap")->default_value, 128);
    EXPECT_EQ(actuator->discover()[0].default_value, 256);
}

}  // namespace
}  // namespace joulepilot::act
