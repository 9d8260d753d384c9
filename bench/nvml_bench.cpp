// Cost of reading NVIDIA GPUs through NvmlSensor, against the fake NVML library (tests/fakes/nvml): what
// joulepilot itself spends per tick on 8 GPUs -- symbol dispatch, unit conversion, error checks, the
// energy counter -- plus the fake's own bookkeeping (a mutex and a counter per call). A real driver adds
// its ioctl time on top, which no fake can stand for; measure that on a GPU machine.

#include <benchmark/benchmark.h>

#include <vector>

#include "sense/nvml/nvml_sensor.hpp"
#include "support/fake_nvml_setup.hpp"

namespace {

using joulepilot::sense::NvmlSensor;
using joulepilot::sense::NvmlSensorOptions;
using joulepilot::sense::Sample;

void read_gpus(benchmark::State& state, bool energy_only, double energy_read_interval_s = 5.0) {
    joulepilot::bench::FakeNvmlSetup fake("device_count 8\ndevice all energy_step_mj 1000\n");
    NvmlSensorOptions options{JOULEPILOT_FAKE_NVML, energy_only};
    options.energy_read_interval = joulepilot::core::Seconds(energy_read_interval_s);
    NvmlSensor sensor(options);
    std::vector<Sample> samples(sensor.discover().size());
    for (auto _ : state) {
        auto result = sensor.read(samples);
        benchmark::DoNotOptimize(result);
        benchmark::DoNotOptimize(samples.data());
    }
    state.counters["signals"] = static_cast<double>(samples.size());
}

// One tick of the agent: every signal of 8 GPUs, the energy counter at most every 5 s (the default), so
// in this loop the energy is the last counter value plus integrated power (8 NVML calls per GPU).
void BM_NvmlRead8Gpus(benchmark::State& state) { read_gpus(state, false); }
BENCHMARK(BM_NvmlRead8Gpus);

// The same with the energy counter read on every tick (energy_read_interval_s = 0; 9 calls per GPU). On
// the fake the counter costs what any call costs; on an H100 with driver 580 it costs ~3.4 ms of CPU.
void BM_NvmlRead8GpusCounterEveryTick(benchmark::State& state) { read_gpus(state, false, 0.0); }
BENCHMARK(BM_NvmlRead8GpusCounterEveryTick);

// One edge of an energy window (the C API): the energy counter of 8 GPUs.
void BM_NvmlReadEnergyOnly8Gpus(benchmark::State& state) { read_gpus(state, true); }
BENCHMARK(BM_NvmlReadEnergyOnly8Gpus);

// Per-process attribution input: 8 GPUs with 4 processes each.
void BM_NvmlProcessUsage8Gpus(benchmark::State& state) {
    joulepilot::bench::FakeNvmlSetup fake(
        "device_count 8\n"
        "device all process 101 1000000 40 10\ndevice all process 102 1000000 20 5\n"
        "device all process 103 1000000 10 5\ndevice all process 104 1000000 5 1\n");
    NvmlSensor sensor(NvmlSensorOptions{JOULEPILOT_FAKE_NVML, false});
    sensor.discover();
    for (auto _ : state) {
        auto usage = sensor.process_usage();
        benchmark::DoNotOptimize(usage);
    }
}
BENCHMARK(BM_NvmlProcessUsage8Gpus);

}  // namespace
