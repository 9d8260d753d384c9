#include "twin/fleet/fleet_sim.hpp"

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
    std::vector<int> per_replica(4, 0);
    for (const auto& r : fleet.records()) {
        ASSERT_GE(r.replica, 0);
        ++per_replica[static_cast<std::size_t>(r.replica)];
    }
    for (int n : per_replica) EXPECT_NEAR(n, 600, 60);  // 2,400 requests spread evenly
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
    for (const auto& r : fleet.records()) EXPECT_EQ(r.replica, 0);
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
