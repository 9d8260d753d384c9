#include "twin/fleet/fleet_sim.hpp"

#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "support/replica_test_params.hpp"

namespace joulepilot::twin {
namespace {

Workload steady(double rate, double seconds) {
    Workload w;
    for (double t = 0; t < seconds; t += 1.0 / rate) w.push_back({core::Seconds(t), 800, 150});
    return w;
}

TEST(FleetSim, RoutesToTheLeastLoadedAndServesEveryRequest) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 4;
    FleetSim fleet(model, config, steady(8, 300));
    fleet.run_until(400);
    EXPECT_TRUE(fleet.drained());
    EXPECT_EQ(fleet.completed().count, 2400U);
    // 2,400 requests of 150 output tokens spread evenly: about 600 x 150 tokens each.
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(fleet.replica(i).counters().output_tokens, 600 * 150, 60 * 150);
}

// Counts what the fleet pulls from its workload (a test double around a real stream).
class CountingStream final : public RequestStream {
public:
    CountingStream(std::unique_ptr<RequestStream> inner, std::size_t& pulled)
        : m_inner(std::move(inner)), m_pulled(pulled) {}
    std::optional<RequestSpec> next() override {
        auto request = m_inner->next();
        if (request) ++m_pulled;
        return request;
    }

private:
    std::unique_ptr<RequestStream> m_inner;
    std::size_t& m_pulled;
};

TEST(FleetSim, ReadsTheWorkloadOnlyAsFarAsItRunsAndKeepsOnlyRequestsInFlight) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 4;
    std::size_t pulled = 0;
    FleetSim fleet(model, config, std::make_unique<CountingStream>(workload_source(steady(8, 300))->open(), pulled));
    fleet.run_until(60);
    EXPECT_NEAR(static_cast<double>(fleet.arrivals()), 480, 1);
    EXPECT_EQ(pulled, fleet.arrivals() + 1);  // one read ahead: the next arrival's time
    fleet.run_until(400);
    EXPECT_TRUE(fleet.drained());
    EXPECT_EQ(pulled, 2400U);
    // Finished requests give their record slots back: a few dozen in flight at a time, not 2,400.
    EXPECT_GT(fleet.record_slots(), 0U);
    EXPECT_LT(fleet.record_slots(), 200U);
    const CompletedRequests& done = fleet.completed();
    EXPECT_EQ(done.count, 2400U);
    EXPECT_EQ(done.output_tokens, 2400U * 150U);
    ASSERT_EQ(done.ttft_s.size(), 2400U);
    ASSERT_EQ(done.tpot_s.size(), 2400U);
    std::uint64_t met = 0;
    for (std::size_t i = 0; i < done.count; ++i) {
        EXPECT_GT(done.ttft_s[i], 0.0);
        EXPECT_GT(done.tpot_s[i], 0.0);
        met += done.ttft_s[i] <= config.slo_ttft_s && done.tpot_s[i] <= config.slo_tpot_s ? 1 : 0;
    }
    EXPECT_EQ(done.met_slo, met);
}

TEST(FleetSim, AStreamAndTheSameWorkloadAsAVectorRunAlike) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 3;
    Workload workload;
    // Uneven lengths and a burst, so batching, queueing and finishing order all matter.
    for (int i = 0; i < 900; ++i) {
        const double t = i < 300 ? i * 0.02 : 6.0 + (i - 300) * 0.3;
        workload.push_back({core::Seconds(t), 200 + (i * 397) % 3000, 20 + (i * 131) % 400});
    }
    FleetSim from_vector(model, config, workload);
    FleetSim from_stream(model, config, workload_source(workload)->open());
    for (FleetSim* fleet : {&from_vector, &from_stream}) {
        fleet->replica(2).set_active(false, 0);
        fleet->run_until(100);
        fleet->replica(2).set_active(true, 100);
        fleet->run_until(600);
    }
    EXPECT_TRUE(from_stream.drained());
    EXPECT_EQ(from_stream.total_it_energy_j(), from_vector.total_it_energy_j());
    EXPECT_EQ(from_stream.total_iterations(), from_vector.total_iterations());
    EXPECT_EQ(from_stream.completed().count, 900U);
    EXPECT_EQ(from_stream.completed().ttft_s, from_vector.completed().ttft_s);
    EXPECT_EQ(from_stream.completed().tpot_s, from_vector.completed().tpot_s);
    EXPECT_EQ(from_stream.completed().met_slo, from_vector.completed().met_slo);
}

TEST(FleetSim, BucketsAddUpToTheEnergyCounters) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 2;
    FleetSim fleet(model, config, steady(3, 200));
    fleet.run_until(250);
    fleet.close_partial_bucket();
    double sum = 0;
    std::uint64_t arrivals = 0;
    for (const auto& b : fleet.buckets()) {
        sum += b.it_energy_j;
        arrivals += b.arrivals;
    }
    EXPECT_NEAR(sum, fleet.total_it_energy_j(), 1e-6);
    EXPECT_EQ(arrivals, fleet.arrivals());
    EXPECT_EQ(fleet.buckets().size(), 5u);  // 4 whole minutes and a partial one
}

TEST(FleetSim, ParkedReplicasGetNoNewRequests) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 3;
    FleetSim fleet(model, config, steady(2, 120));
    fleet.replica(1).set_active(false, 0);
    fleet.replica(2).set_active(false, 0);
    fleet.run_until(200);
    EXPECT_EQ(fleet.completed().count, fleet.arrivals());
    EXPECT_GT(fleet.replica(0).counters().output_tokens, 0.0);
    EXPECT_EQ(fleet.replica(1).counters().output_tokens, 0.0);
    EXPECT_EQ(fleet.replica(2).counters().output_tokens, 0.0);
    EXPECT_EQ(fleet.replica(1).state(), ReplicaState::parked);
}

TEST(FleetSim, ServiceWindowReportsRecentLatencies) {
    const ReplicaModel model(testing::replica_test_params());
    FleetConfig config;
    config.gpus = 1;
    FleetSim fleet(model, config, steady(1, 100));
    EXPECT_FALSE(fleet.service_window().ttft_p99_s);
    fleet.run_until(50);
    const ServiceWindow w = fleet.service_window();
    ASSERT_TRUE(w.ttft_p99_s);
    EXPECT_GT(*w.ttft_p99_s, 0);
    EXPECT_LT(*w.ttft_p99_s, 1.0);
    ASSERT_TRUE(w.slo_attainment);
    EXPECT_DOUBLE_EQ(*w.slo_attainment, 1.0);
}

TEST(FleetSim, TpotAndSloMetFollowTheirDefinitions) {
    RequestRecord r;
    r.arrival_s = 0;
    r.first_token_s = 0.5;
    r.finish_s = 10.5;
    r.output_tokens = 101;
    EXPECT_DOUBLE_EQ(tpot_of(r), 0.1);
    EXPECT_TRUE(met_slo(r, 1.0, 0.1));
    EXPECT_FALSE(met_slo(r, 0.4, 0.1));
    EXPECT_FALSE(met_slo(r, 1.0, 0.09));
    r.finish_s = -1;
    EXPECT_FALSE(met_slo(r, 1.0, 0.1));
}

}  // namespace
}  // namespace joulepilot::twin
