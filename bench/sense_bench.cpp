// Per-tick cost of node sensing (issue 3 target: <= 1 ms CPU per tick): RAPL with 2 packages x 4 domains,
// node CPU time from /proc/stat, and per-process CPU time of a 1,000-process procfs tree, all on a
// generated fixture tree in a temporary directory (so the numbers do not depend on the machine's own
// processes), plus the same process reader on this machine's real /proc for comparison.
// Compare CPU time, not wall time: the machines these run on are shared.

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/rooted_fs.hpp"
#include "sense/procfs/node_cpu_sensor.hpp"
#include "sense/procfs/process_cpu_reader.hpp"
#include "sense/rapl/rapl_sensor.hpp"

namespace {

using namespace joulepilot;

constexpr int kProcesses = 1000;

void write(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
}

// The generated tree, made once per run and removed at exit.
class FixtureTree {
public:
    FixtureTree() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "joulepilot-sense-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_root = pattern;
        const auto powercap = m_root / "sys/class/powercap";
        const char* domains[] = {"core", "uncore", "dram"};
        for (int package = 0; package < 2; ++package) {
            const auto zone = powercap / fmt::format("intel-rapl:{}", package);
            write(zone / "name", fmt::format("package-{}\n", package));
            write(zone / "energy_uj", fmt::format("{}\n", 100000000 * (package + 1)));
            write(zone / "max_energy_range_uj", "262143328850\n");
            for (int sub = 0; sub < 3; ++sub) {
                const auto subzone = powercap / fmt::format("intel-rapl:{}:{}", package, sub);
                write(subzone / "name", std::string(domains[sub]) + "\n");
                write(subzone / "energy_uj", fmt::format("{}\n", 1000000 * (sub + 1)));
                write(subzone / "max_energy_range_uj", "262143328850\n");
            }
        }
        write(m_root / "proc/stat",
              "cpu  1000 20 300 5000 100 10 5 50 0 0\ncpu0 500 10 150 2500 50 5 2 25 0 0\n");
        write(m_root / "proc/loadavg", fmt::format("0.10 0.20 0.30 2/{} {}\n", kProcesses, kProcesses));
        for (int pid = 1; pid <= kProcesses; ++pid) {
            write(m_root / fmt::format("proc/{}/stat", pid),
                  fmt::format(
                      "{} (worker-{}) S 1 {} {} 0 -1 4194560 53183 3129766 117 1608 {} {} 7384 2436 20 0 "
                      "1 0 {} 174444544 3264 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 "
                      "17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                      pid, pid, pid, pid, pid * 3, pid, pid));
        }
    }
    ~FixtureTree() {
        std::error_code ec;
        std::filesystem::remove_all(m_root, ec);
    }
    FixtureTree(const FixtureTree&) = delete;
    FixtureTree& operator=(const FixtureTree&) = delete;
    [[nodiscard]] const std::filesystem::path& root() const { return m_root; }

private:
    std::filesystem::path m_root;
};

const FixtureTree& tree() {
    static const FixtureTree instance;
    return instance;
}

void BM_RaplRead_2x4(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    core::ManualClock clock;
    sense::RaplSensor sensor(fs, clock);
    std::vector<sense::Sample> samples(sensor.discover().size());
    if (samples.size() != 16) state.SkipWithError("expected 16 RAPL signals");
    for (auto _ : state) {
        clock.advance(core::Seconds(1));
        benchmark::DoNotOptimize(sensor.read(samples));
    }
}
BENCHMARK(BM_RaplRead_2x4)->Unit(benchmark::kMicrosecond);

void BM_NodeCpuRead(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    sense::NodeCpuSensor sensor(fs);
    std::vector<sense::Sample> samples(sensor.discover().size());
    for (auto _ : state) benchmark::DoNotOptimize(sensor.read(samples));
}
BENCHMARK(BM_NodeCpuRead)->Unit(benchmark::kMicrosecond);

// Read every process and turn the snapshot into per-interval CPU time, as attribution does each tick.
void process_tick(benchmark::State& state, const core::RootedFs& fs,
                  const sense::ProcessCpuOptions& options) {
    sense::ProcessCpuReader reader(fs, options);
    sense::ProcessCpuTracker tracker(sense::clock_ticks_per_second());
    std::vector<sense::ProcessCpuTime> snapshot;
    std::vector<sense::ProcessCpuUse> use;
    for (auto _ : state) {
        if (!reader.read(snapshot)) state.SkipWithError("process read failed");
        state.counters["processes"] = static_cast<double>(snapshot.size());
        tracker.update(snapshot, use);
        benchmark::DoNotOptimize(use.data());
    }
    const auto reads = static_cast<double>(std::max<std::uint64_t>(reader.stats().reads, 1));
    state.counters["stat_reads_per_tick"] = static_cast<double>(reader.stats().stat_reads) / reads;
    state.counters["listings_per_tick"] = static_cast<double>(reader.stats().listings) / reads;
}

// The defaults: kept descriptors, listing only when a pid was allocated, idle processes every 4th read.
// On this static fixture every process is idle after two reads: the best case.
void BM_ProcessCpuRead_1000_Defaults(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    process_tick(state, fs, sense::ProcessCpuOptions{});
}
BENCHMARK(BM_ProcessCpuRead_1000_Defaults)->Unit(benchmark::kMicrosecond);

// Every process read on every tick through kept descriptors (every process busy, no new pid).
void BM_ProcessCpuRead_1000_AllBusy(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    process_tick(state, fs, sense::ProcessCpuOptions{"proc", 0, 1, false});
}
BENCHMARK(BM_ProcessCpuRead_1000_AllBusy)->Unit(benchmark::kMicrosecond);

// The worst case: every process busy and a new pid every tick (a listing each tick).
void BM_ProcessCpuRead_1000_AllBusyRelist(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    process_tick(state, fs, sense::ProcessCpuOptions{"proc", 0, 1, true});
}
BENCHMARK(BM_ProcessCpuRead_1000_AllBusyRelist)->Unit(benchmark::kMicrosecond);

// Without kept descriptors: open/read/close per process per tick (what most tools do).
void BM_ProcessCpuRead_1000_NoKeptFiles(benchmark::State& state) {
    const core::RootedFs fs(tree().root());
    process_tick(state, fs, sense::ProcessCpuOptions{"proc", 1, 1, true});
}
BENCHMARK(BM_ProcessCpuRead_1000_NoKeptFiles)->Unit(benchmark::kMicrosecond);

// This machine's own /proc: the kernel formats each stat file on every read (~4 us here).
void BM_ProcessCpuRead_RealProc_Defaults(benchmark::State& state) {
    const core::RootedFs fs("/");
    process_tick(state, fs, sense::ProcessCpuOptions{});
}
BENCHMARK(BM_ProcessCpuRead_RealProc_Defaults)->Unit(benchmark::kMicrosecond);

void BM_ProcessCpuRead_RealProc_AllBusyRelist(benchmark::State& state) {
    const core::RootedFs fs("/");
    process_tick(state, fs, sense::ProcessCpuOptions{"proc", 0, 1, true});
}
BENCHMARK(BM_ProcessCpuRead_RealProc_AllBusyRelist)->Unit(benchmark::kMicrosecond);

// One whole tick of node sensing as the agent will run it: RAPL 2 x 4, /proc/stat, 1,000 processes.
void node_tick(benchmark::State& state, const sense::ProcessCpuOptions& options) {
    const core::RootedFs fs(tree().root());
    core::ManualClock clock;
    sense::RaplSensor rapl(fs, clock);
    sense::NodeCpuSensor cpu(fs);
    std::vector<sense::Sample> rapl_samples(rapl.discover().size());
    std::vector<sense::Sample> cpu_samples(cpu.discover().size());
    sense::ProcessCpuReader reader(fs, options);
    sense::ProcessCpuTracker tracker(sense::clock_ticks_per_second());
    std::vector<sense::ProcessCpuTime> snapshot;
    std::vector<sense::ProcessCpuUse> use;
    for (auto _ : state) {
        clock.advance(core::Seconds(1));
        benchmark::DoNotOptimize(rapl.read(rapl_samples));
        benchmark::DoNotOptimize(cpu.read(cpu_samples));
        benchmark::DoNotOptimize(reader.read(snapshot));
        tracker.update(snapshot, use);
        benchmark::DoNotOptimize(use.data());
    }
}

void BM_NodeTick_Rapl2x4_Procfs1000_Defaults(benchmark::State& state) {
    node_tick(state, sense::ProcessCpuOptions{});
}
BENCHMARK(BM_NodeTick_Rapl2x4_Procfs1000_Defaults)->Unit(benchmark::kMicrosecond);

void BM_NodeTick_Rapl2x4_Procfs1000_AllBusy(benchmark::State& state) {
    node_tick(state, sense::ProcessCpuOptions{"proc", 0, 1, false});
}
BENCHMARK(BM_NodeTick_Rapl2x4_Procfs1000_AllBusy)->Unit(benchmark::kMicrosecond);

void BM_NodeTick_Rapl2x4_Procfs1000_AllBusyRelist(benchmark::State& state) {
    node_tick(state, sense::ProcessCpuOptions{"proc", 0, 1, true});
}
BENCHMARK(BM_NodeTick_Rapl2x4_Procfs1000_AllBusyRelist)->Unit(benchmark::kMicrosecond);

}  // namespace
