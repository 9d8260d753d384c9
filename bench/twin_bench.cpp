// Hot paths of the twin: the replica model's closed-form calls and a steady hour of one replica.
#include <benchmark/benchmark.h>

#include "twin/fleet/fleet_sim.hpp"
#include "twin/replica/replica_model.hpp"

namespace {

using joulepilot::twin::ReplicaModel;

const ReplicaModel& model() {
    static const ReplicaModel m = ReplicaModel::calibrated(JOULEPILOT_DATA_DIR).value();
    return m;
}

void BM_DecodeTime(benchmark::State& state) {
    const joulepilot::twin::GpuSettings s;
    int batch = 1;
    for (auto _ : state) {
        benchmark::DoNotOptimize(model().decode_time(batch, batch * 1500.0, s));
        batch = batch % 256 + 1;
    }
}
BENCHMARK(BM_DecodeTime);

void BM_DecodePowerUnderPowerLimit(benchmark::State& state) {
    joulepilot::twin::GpuSettings s;
    s.power_limit = joulepilot::core::Watts(350);
    int batch = 1;
    for (auto _ : state) {
        benchmark::DoNotOptimize(model().decode_power(batch, s));
        batch = batch % 256 + 1;
    }
}
BENCHMARK(BM_DecodePowerUnderPowerLimit);

// One replica, 10 requests/s of 1,000-in/300-out tokens for a simulated hour.
void BM_FleetHour(benchmark::State& state) {
    joulepilot::twin::Workload workload;
    for (double t = 0; t < 3600; t += 0.1) workload.push_back({joulepilot::core::Seconds(t), 1000, 300});
    std::uint64_t iterations = 0;
    for (auto _ : state) {
        joulepilot::twin::FleetConfig config;
        config.gpus = 1;
        joulepilot::twin::FleetSim fleet(model(), config, workload);
        fleet.run_until(3700);
        iterations += fleet.total_iterations();
    }
    state.counters["requests/s"] =
        benchmark::Counter(static_cast<double>(workload.size() * state.iterations()), benchmark::Counter::kIsRate);
    state.counters["iterations/s"] = benchmark::Counter(static_cast<double>(iterations), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FleetHour)->Unit(benchmark::kMillisecond);

}  // namespace
