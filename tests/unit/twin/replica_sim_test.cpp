#include "twin/fleet/replica_sim.hpp"

#include <algorithm>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "twin/replica/replica_model.hpp"

#include "support/replica_test_params.hpp"

namespace joulepilot::twin {
namespace {

class Listener : public RequestListener {
public:
    void on_first_token(std::uint32_t, const RequestRecord&) override { ++first_tokens; }
    void on_finish(std::uint32_t, const RequestRecord&) override { ++finished; }
    int first_tokens = 0;
    int finished = 0;
};

RequestRecord request(double arrival, int in, int out) {
    RequestRecord r;
    r.arrival_s = arrival;
    r.input_tokens = in;
    r.output_tokens = out;
    return r;
}

TEST(ReplicaSim, OneRequestTakesPrefillThenOneDecodeIterationPerTokenExactly) {
    const ReplicaModel model(testing::replica_test_params());
    const GpuSettings s;
    std::vector<RequestRecord> records{request(1.0, 1000, 200)};
    Listener listener;
    ReplicaSim replica(0, model, s, records, listener);
    replica.advance_to(1.0);
    replica.enqueue(0);
    replica.advance_to(1000);

    // Expected, one iteration at a time: the leap must give the same sum.
    double t = 1.0 + model.prefill_time(1000, s).value();
    const double first_token = t;
    double context = 1000 + 1;
    for (int token = 2; token <= 200; ++token) {
        t += model.decode_time(1, context, s).value();
        context += 1;
    }
    EXPECT_NEAR(records[0].first_token_s, first_token, 1e-9);
    EXPECT_NEAR(records[0].finish_s, t, 1e-6);
    EXPECT_EQ(replica.counters().iterations, 200u);
    EXPECT_EQ(listener.first_tokens, 1);
    EXPECT_EQ(listener.finished, 1);
    EXPECT_EQ(replica.running(), 0u);
}

TEST(ReplicaSim, EnergyIsIdlePlusBusyAndConservedAcrossAdvanceSteps) {
    const ReplicaModel model(testing::replica_test_params());
    const GpuSettings s;
    std::vector<RequestRecord> a{request(5.0, 500, 50)};
    std::vector<RequestRecord> b = a;
    Listener la;
    Listener lb;
    ReplicaSim one(0, model, s, a, la);
    ReplicaSim many(0, model, s, b, lb);
    one.advance_to(5.0);
    one.enqueue(0);
    one.advance_to(60);
    many.advance_to(5.0);
    many.enqueue(0);
    for (double t = 5.0; t <= 60; t += 0.0137) many.advance_to(t);
    many.advance_to(60);
    EXPECT_NEAR(one.counters().energy_j, many.counters().energy_j, 1e-6);
    EXPECT_NEAR(a[0].finish_s, b[0].finish_s, 1e-9);
    // Idle before and after at idle power, busy in between.
    const double busy = one.counters().busy_s;
    EXPECT_NEAR(busy, a[0].finish_s - 5.0, 1e-9);
    EXPECT_GT(one.counters().energy_j, model.idle_power(s).value() * (60 - busy));
}

TEST(ReplicaSim, NeverRunsMoreThanTheBatchCap) {
    const ReplicaModel model(testing::replica_test_params());
    GpuSettings s;
    s.batch_cap = 8;
    std::vector<RequestRecord> records;
    for (int i = 0; i < 40; ++i) records.push_back(request(0.0, 100, 100 + i));
    Listener listener;
    ReplicaSim replica(0, model, s, records, listener);
    for (std::uint32_t i = 0; i < records.size(); ++i) replica.enqueue(i);
    for (double t = 0.01; t < 200; t += 0.01) {
        replica.advance_to(t);
        ASSERT_LE(replica.running(), 8u);
    }
    EXPECT_EQ(listener.finished, 40);
}

TEST(ReplicaSim, ParkingDrainsThenUsesParkedPowerAndWakingTakesTheWakeDelay) {
    const ReplicaModel model(testing::replica_test_params());
    const GpuSettings s;
    std::vector<RequestRecord> records{request(0.0, 100, 400), request(100.0, 100, 10)};
    Listener listener;
    ReplicaSim replica(0, model, s, records, listener);
    replica.enqueue(0);
    replica.advance_to(0.5);
    replica.set_active(false, 0.5);
    EXPECT_EQ(replica.state(), ReplicaState::draining);
    EXPECT_FALSE(replica.accepts_requests());
    replica.advance_to(50);
    EXPECT_EQ(replica.state(), ReplicaState::parked);
    EXPECT_GT(records[0].finish_s, 0);  // the running request was served, not dropped
    const double before = replica.counters().energy_j;
    replica.advance_to(60);
    EXPECT_NEAR(replica.counters().energy_j - before, model.parked_power().value() * 10, 1e-6);
    replica.set_active(true, 60);
    EXPECT_EQ(replica.state(), ReplicaState::waking);
    replica.advance_to(60 + model.wake_delay().value() - 0.001);
    EXPECT_EQ(replica.state(), ReplicaState::waking);
    replica.advance_to(60 + model.wake_delay().value() + 0.001);
    EXPECT_EQ(replica.state(), ReplicaState::serving);
}

TEST(ReplicaSim, APrecisionChangeReloadsTheModel) {
    const ReplicaModel model(testing::replica_test_params());
    GpuSettings s;
    std::vector<RequestRecord> records{request(0.0, 100, 100)};
    Listener listener;
    ReplicaSim replica(0, model, s, records, listener);
    replica.enqueue(0);
    replica.advance_to(0.1);
    s.precision = Precision::fp8;
    replica.set_settings(s, 0.1);
    EXPECT_EQ(replica.state(), ReplicaState::draining);
    replica.advance_to(30);
    EXPECT_EQ(replica.state(), ReplicaState::waking);
    replica.advance_to(100);
    EXPECT_EQ(replica.state(), ReplicaState::serving);
}

TEST(ReplicaSim, EveryRequestFinishesWithCausalTimes) {
    rc::check([](const std::vector<std::tuple<std::uint8_t, std::uint16_t, std::uint16_t>>& raw) {
        const ReplicaModel model(testing::replica_test_params());
        GpuSettings s;
        s.batch_cap = 16;
        std::vector<RequestRecord> records;
        double t = 0;
        for (const auto& [gap, in, out] : raw) {
            t += gap * 0.01;
            records.push_back(request(t, 1 + in % 4000, 1 + out % 600));
        }
        Listener listener;
        ReplicaSim replica(0, model, s, records, listener);
        for (std::uint32_t i = 0; i < records.size(); ++i) {
            replica.advance_to(records[i].arrival_s);
            replica.enqueue(i);
        }
        replica.advance_to(1e6);
        RC_ASSERT(listener.finished == static_cast<int>(records.size()));
        for (const auto& r : records) {
            RC_ASSERT(r.first_token_s > r.arrival_s);
            RC_ASSERT(r.finish_s >= r.first_token_s);
        }
    });
}

}  // namespace
}  // namespace joulepilot::twin

namespace joulepilot::twin {
namespace {

TEST(ReplicaSim, PromptTokensPerIterationStayWithinTheBudget) {
    const ReplicaModel model(testing::replica_test_params());
    const GpuSettings s;
    std::vector<RequestRecord> records;
    for (int i = 0; i < 10; ++i) records.push_back(request(0.0, 3000, 5));
    Listener listener;
    ReplicaSim replica(0, model, s, records, listener, 8192);
    for (std::uint32_t i = 0; i < records.size(); ++i) replica.enqueue(i);
    replica.advance_to(100);
    // 3,000-token prompts, 8,192 per iteration: two per iteration, so five distinct first-token times.
    std::vector<double> first;
    for (const auto& r : records) first.push_back(r.first_token_s);
    std::sort(first.begin(), first.end());
    EXPECT_EQ(std::unique(first.begin(), first.end()) - first.begin(), 5);
    EXPECT_NEAR(records[0].first_token_s, model.prefill_time(6000, s).value(), 1e-9);
}

}  // namespace
}  // namespace joulepilot::twin
