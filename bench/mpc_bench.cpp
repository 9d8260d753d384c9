// Decision latency of the `mpc` policy (issue 6 target: <= 1 ms p99 for the default knob space): one whole
// decide() on an 8-replica fleet (4 clocks x 3 batch caps x 2 precisions x replica counts), forecast, model
// prediction, search and actuation included; and the energy model's batched prediction alone. Each
// decision is timed on its own (wall: steady clock; CPU: this thread's CPU clock) and the p50/p99 of both
// are reported as counters. The model is the file in $JP_ENERGY_MODEL (`joulepilot train model`) when set,
// else one trained here on synthetic rows with the trainer's defaults (60 trees of depth 6 per target):
// the cost depends on the trees' shape, not on what they learned.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>

#include <benchmark/benchmark.h>

#include "decide/mpc_policy.hpp"
#include "fleet_fixture.hpp"
#include "synthetic_model.hpp"

namespace {

using namespace joulepilot;

std::shared_ptr<const learn::EnergyModel> bench_model() {
    if (const char* path = std::getenv("JP_ENERGY_MODEL")) {
        auto loaded = learn::EnergyModel::load(path, "");
        if (!loaded) {
            std::fprintf(stderr, "mpc_bench: %s\n", loaded.error().message.c_str());
            std::exit(1);
        }
        return std::make_shared<const learn::EnergyModel>(std::move(*loaded));
    }
    // Trained here with the trainer's default rounds: the cost depends on the trees' shape.
    return decide::testing::synthetic_energy_model("", [](double rps) { return 0.1 * std::exp(rps - 3); }, 3000,
                                                   learn::TrainOptions{}.rounds);
}

const std::shared_ptr<const learn::EnergyModel>& shared_model() {
    static const auto model = bench_model();
    return model;
}

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Times each iteration of `body` and reports p50/p99 of wall and CPU time in microseconds.
template <typename Body>
void timed(benchmark::State& state, Body&& body) {
    std::vector<double> wall;
    std::vector<double> cpu;
    for (auto _ : state) {
        const auto w0 = std::chrono::steady_clock::now();
        const double c0 = thread_cpu_s();
        body();
        cpu.push_back(thread_cpu_s() - c0);
        wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
    }
    auto pct = [](std::vector<double>& v, double q) {
        std::sort(v.begin(), v.end());
        return v.empty()
                   ? 0.0
                   : v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))] *
                         1e6;
    };
    state.counters["wall_p50_us"] = pct(wall, 0.5);
    state.counters["wall_p99_us"] = pct(wall, 0.99);
    state.counters["cpu_p50_us"] = pct(cpu, 0.5);
    state.counters["cpu_p99_us"] = pct(cpu, 0.99);
}

// arg 0: fleet requests/s (light load lets mpc consolidate; heavy load needs every replica).
void BM_MpcDecide(benchmark::State& state) {
    decide::testing::FleetFixture fleet(8);
    const double rps = static_cast<double>(state.range(0));
    fleet.set("fleet.arrival_rate_rps", rps);
    fleet.set("fleet.prompt_tokens_per_s", rps * 1000);
    fleet.set("fleet.generation_tokens_per_s", rps * 400);
    decide::MpcConfig config;
    decide::MpcPolicy policy(config, shared_model());
    for (int i = 0; i < 3; ++i) {
        fleet.push(10);
        (void)fleet.decide(policy);
    }
    timed(state, [&] { benchmark::DoNotOptimize(fleet.decide(policy)); });
}
BENCHMARK(BM_MpcDecide)->Arg(4)->Arg(40)->Unit(benchmark::kMicrosecond);

// The model alone: `rows` candidate rows, all four targets.
void BM_EnergyModelPredict(benchmark::State& state) {
    const auto rows = static_cast<std::size_t>(state.range(0));
    std::vector<float> x(rows * learn::kFeatureCount);
    for (std::size_t r = 0; r < rows; ++r) {
        float* row = &x[r * learn::kFeatureCount];
        const auto i = static_cast<float>(r % 8 + 1);
        row[0] = 4 / i;
        row[1] = 4000 / i;
        row[2] = 1600 / i;
        row[3] = 1260 + static_cast<float>(r % 4) * 240;
        row[4] = 700;
        row[5] = 64;
        row[6] = static_cast<float>(r % 2);
    }
    std::vector<learn::Prediction> out(rows);
    const auto& model = shared_model();
    timed(state, [&] { benchmark::DoNotOptimize(model->predict(x, out)); });
}
BENCHMARK(BM_EnergyModelPredict)->Arg(1)->Arg(24)->Arg(192)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
