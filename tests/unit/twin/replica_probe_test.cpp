#include "twin/replica_probe.hpp"

#include <gtest/gtest.h>

#include "support/replica_test_params.hpp"

namespace joulepilot::twin {
namespace {

Workload steady(double rps, double seconds, int input, int output) {
    Workload w;
    for (double t = 0; t < seconds; t += 1 / rps) w.push_back({core::Seconds(t), input, output});
    return w;
}

ProbeWindow window(double from, double to) {
    ProbeWindow w;
    w.measure_from_s = from;
    w.measure_to_s = to;
    w.drain_s = 60;
    return w;
}

TEST(ReplicaProbe, NoLoadDrawsIdlePower) {
    const ReplicaModel model(testing::replica_test_params());
    const ProbeResult r = probe_replica(model, GpuSettings{}, {}, window(10, 70));
    EXPECT_NEAR(r.mean_power_w, model.idle_power(GpuSettings{}).value(), 1e-9);
    EXPECT_EQ(r.measured, 0U);
    EXPECT_EQ(r.slo_attainment, 1.0);
}

TEST(ReplicaProbe, MoreLoadMeansMorePowerAndLatency) {
    const ReplicaModel model(testing::replica_test_params());
    const Workload light = steady(0.5, 200, 500, 100);
    const Workload heavy = steady(8, 200, 500, 100);
    const ProbeResult a = probe_replica(model, GpuSettings{}, light, window(60, 140));
    const ProbeResult b = probe_replica(model, GpuSettings{}, heavy, window(60, 140));
    EXPECT_EQ(a.measured, 40U);
    EXPECT_GT(b.mean_power_w, a.mean_power_w);
    EXPECT_GT(b.throughput_tps, a.throughput_tps);
    EXPECT_GE(b.p99_tpot_s, a.p99_tpot_s);
    EXPECT_EQ(a.slo_attainment, 1.0);
}

TEST(ReplicaProbe, OverloadMissesTheSlo) {
    const ReplicaModel model(testing::replica_test_params());
    const Workload flood = steady(200, 120, 4000, 500);
    const ProbeResult r = probe_replica(model, GpuSettings{}, flood, window(30, 90));
    EXPECT_LT(r.slo_attainment, 0.5);
    EXPECT_GT(r.p99_ttft_s, 1.0);
}

}  // namespace
}  // namespace joulepilot::twin
