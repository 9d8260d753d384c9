// Cost of one batch of real-node actuation, on the fake NVML library (tests/fakes/nvml) and a copy of the
// sysfs fixture tree tests/fixtures/act/node-2s in a temporary directory: 8 GPUs (power limit + SM clock
// cap each: 16 NVML set calls and 8 limit reads), 2 RAPL package limits (write + read-back each) and the
// cpufreq caps of 2 packages over N policies (N scaling_max_freq writes). Values alternate between two
// settings so every write changes something. What joulepilot spends per batch -- validation, unit
// conversion, save bookkeeping, undo records, syscalls on a regular-file tree; a real driver and sysfs add
// their own time (an NVML set is an ioctl; a RAPL write an MSR write), which only a real machine shows.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "act/cpufreq/cpufreq_actuator.hpp"
#include "act/nvml/nvml_actuator.hpp"
#include "act/rapl/rapl_power_limit_actuator.hpp"
#include "support/fake_nvml_setup.hpp"

namespace {

namespace fs = std::filesystem;
using namespace joulepilot;

void write_file(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content << '\n';
}

// node-2s copied to a temporary directory, with policies added up to `policies` (half per package).
class FixtureNode {
public:
    explicit FixtureNode(int policies) {
        // tmpfs when there is one: in memory like sysfs, and without the journal and writeback a disk file
        // system adds to every truncating write (which would dominate the numbers).
        std::error_code ec;
        const fs::path base =
            fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
        std::string pattern = (base / "joulepilot-act-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) std::exit(1);
        m_root = pattern;
        fs::copy(fs::path(JOULEPILOT_ACT_FIXTURES) / "node-2s", m_root, fs::copy_options::recursive);
        const fs::path cpu = m_root / "sys/devices/system/cpu";
        for (int c = 8; c < policies; ++c) {
            const fs::path policy = cpu / "cpufreq" / ("policy" + std::to_string(c));
            write_file(policy / "cpuinfo_min_freq", "800000");
            write_file(policy / "cpuinfo_max_freq", "3900000");
            write_file(policy / "scaling_min_freq", "800000");
            write_file(policy / "scaling_max_freq", "3900000");
            write_file(policy / "affected_cpus", std::to_string(c));
            write_file(cpu / ("cpu" + std::to_string(c)) / "topology/physical_package_id",
                       c < policies / 2 ? "0" : "1");
        }
    }
    ~FixtureNode() {
        std::error_code ec;
        fs::remove_all(m_root, ec);
    }
    FixtureNode(const FixtureNode&) = delete;
    FixtureNode& operator=(const FixtureNode&) = delete;
    [[nodiscard]] const fs::path& root() const { return m_root; }

private:
    fs::path m_root;
};

enum Parts : int { kNvml = 1, kRapl = 2, kCpufreq = 4, kAll = 7 };

// Applies a batch to the parts named in range(1) (bit set of Parts) on a node with range(0) policies.
void apply_batch(benchmark::State& state) {
    const int policies = static_cast<int>(state.range(0));
    const auto parts = static_cast<int>(state.range(1));
    joulepilot::bench::FakeNvmlSetup fake("device_count 8\n");
    const FixtureNode node(policies);
    const core::RootedFs rooted(node.root());

    act::NvmlActuatorOptions nvml_options;
    nvml_options.library_path = JOULEPILOT_FAKE_NVML;
    act::NvmlActuator nvml(nvml_options);
    act::RaplPowerLimitActuator rapl(rooted);
    act::CpufreqActuator cpufreq(rooted);
    if (nvml.discover().size() != 16 || rapl.discover().size() != 2 || cpufreq.discover().size() != 2) {
        state.SkipWithError("unexpected knob count on the fake node");
        return;
    }

    // Two batches per actuator, alternated.
    std::array<std::vector<act::KnobSetting>, 2> gpu;
    std::array<std::vector<act::KnobSetting>, 2> cpu_power;
    std::array<std::vector<act::KnobSetting>, 2> cpu_freq;
    for (std::size_t v = 0; v < 2; ++v) {
        for (int g = 0; g < 8; ++g) {
            gpu[v].push_back({"gpu." + std::to_string(g) + ".power_limit_watts", v == 0 ? 400.0 : 450.0});
            gpu[v].push_back({"gpu." + std::to_string(g) + ".sm_clock_cap_hz", v == 0 ? 1410e6 : 1500e6});
        }
        for (int p = 0; p < 2; ++p) {
            cpu_power[v].push_back(
                {"cpu." + std::to_string(p) + ".package_power_limit_watts", v == 0 ? 150.0 : 160.0});
            cpu_freq[v].push_back({"cpu." + std::to_string(p) + ".max_freq_hz", v == 0 ? 2000e6 : 2400e6});
        }
    }
    if (!nvml.save() || !rapl.save() || !cpufreq.save()) {
        state.SkipWithError("save failed");
        return;
    }
    std::size_t v = 0;
    for (auto _ : state) {
        const bool ok = ((parts & kNvml) == 0 || nvml.apply(gpu[v])) &&
                        ((parts & kRapl) == 0 || rapl.apply(cpu_power[v])) &&
                        ((parts & kCpufreq) == 0 || cpufreq.apply(cpu_freq[v]));
        if (!ok) {
            state.SkipWithError("apply failed");
            break;
        }
        v ^= 1;
    }
    state.counters["nvml_sets"] = (parts & kNvml) != 0 ? 16 : 0;
    state.counters["sysfs_writes"] =
        ((parts & kRapl) != 0 ? 2 : 0) + ((parts & kCpufreq) != 0 ? policies : 0);
    if (!nvml.restore() || !rapl.restore() || !cpufreq.restore()) state.SkipWithError("restore failed");
}

// The whole batch: 8 GPUs x 2 knobs, 2 RAPL limits, 2 cpufreq packages over 8 or 64 policies.
void BM_ApplyNodeBatch(benchmark::State& state) { apply_batch(state); }
BENCHMARK(BM_ApplyNodeBatch)->Args({8, kAll})->Args({64, kAll})->Unit(benchmark::kMicrosecond);

// Each part alone.
void BM_ApplyNvml8Gpus(benchmark::State& state) { apply_batch(state); }
BENCHMARK(BM_ApplyNvml8Gpus)->Args({8, kNvml})->Unit(benchmark::kMicrosecond);
void BM_ApplyRapl2Packages(benchmark::State& state) { apply_batch(state); }
BENCHMARK(BM_ApplyRapl2Packages)->Args({8, kRapl})->Unit(benchmark::kMicrosecond);
void BM_ApplyCpufreq(benchmark::State& state) { apply_batch(state); }
BENCHMARK(BM_ApplyCpufreq)->Args({8, kCpufreq})->Args({64, kCpufreq})->Unit(benchmark::kMicrosecond);

// Restoring everything after such a batch (what stop and crash recovery cost).
void BM_RestoreNodeBatch(benchmark::State& state) {
    joulepilot::bench::FakeNvmlSetup fake("device_count 8\n");
    const FixtureNode node(8);
    const core::RootedFs rooted(node.root());
    act::NvmlActuatorOptions nvml_options;
    nvml_options.library_path = JOULEPILOT_FAKE_NVML;
    act::NvmlActuator nvml(nvml_options);
    act::RaplPowerLimitActuator rapl(rooted);
    act::CpufreqActuator cpufreq(rooted);
    nvml.discover();
    rapl.discover();
    cpufreq.discover();
    std::vector<act::KnobSetting> gpu;
    for (int g = 0; g < 8; ++g) {
        gpu.push_back({"gpu." + std::to_string(g) + ".power_limit_watts", 400.0});
        gpu.push_back({"gpu." + std::to_string(g) + ".sm_clock_cap_hz", 1410e6});
    }
    const std::vector<act::KnobSetting> power{{"cpu.0.package_power_limit_watts", 150.0},
                                              {"cpu.1.package_power_limit_watts", 150.0}};
    const std::vector<act::KnobSetting> freq{{"cpu.0.max_freq_hz", 2000e6}, {"cpu.1.max_freq_hz", 2000e6}};
    for (auto _ : state) {
        state.PauseTiming();
        const bool applied = nvml.apply(gpu) && rapl.apply(power) && cpufreq.apply(freq);
        state.ResumeTiming();
        const bool restored = applied && nvml.restore() && rapl.restore() && cpufreq.restore();
        if (!restored) {
            state.SkipWithError("apply or restore failed");
            break;
        }
    }
}
BENCHMARK(BM_RestoreNodeBatch)->Unit(benchmark::kMicrosecond);

}  // namespace
