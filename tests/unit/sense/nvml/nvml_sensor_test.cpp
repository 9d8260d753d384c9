#include "sense/nvml/nvml_sensor.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::sense {
namespace {

using testing::FakeNvml;

NvmlSensorOptions full_options(const std::string& library, double energy_read_interval_s) {
    NvmlSensorOptions options;
    options.library_path = library;
    options.energy_read_interval = core::Seconds(energy_read_interval_s);
    return options;
}

// A sensor on the fake library, discovered, with a sample buffer the size of its catalog, on a manual
// clock. By default it reads the energy counter on every read (interval 0), which most tests are about;
// the energy-interval tests pass one.
class Probe {
  public:
      explicit Probe(const std::string& library, double energy_read_interval_s = 0.0)
          : m_sensor(full_options(library, energy_read_interval_s), m_clock) {
          m_signals = m_sensor.discover();
          m_samples.resize(m_signals.size());
      }

    NvmlSensor& sensor() { return m_sensor; }
    core::ManualClock& clock() { return m_clock; }
    const std::vector<SignalInfo>& signals() const { return m_signals; }

    core::Result<void> read() { return m_sensor.read(m_samples); }

    [[nodiscard]] std::optional<std::size_t> index(const std::string& name) const {
        for (std::size_t i = 0; i < m_signals.size(); ++i) {
            if (m_signals[i].name == name) return i;
        }
        return std::nullopt;
    }
    [[nodiscard]] bool has(const std::string& name) const { return index(name).has_value(); }
    // The latest value of `name`; nullopt when missing. Fails the test when the signal does not exist.
    [[nodiscard]] std::optional<double> value(const std::string& name) const {
        const auto i = index(name);
        EXPECT_TRUE(i.has_value()) << "no signal " << name;
        if (!i || !m_samples[*i].valid) return std::nullopt;
        return m_samples[*i].value;
    }
    [[nodiscard]] const SignalInfo& info(const std::string& name) const { return m_signals.at(*index(name)); }

  private:
      core::ManualClock m_clock{core::Seconds(1000)};  // before the sensor, which holds a reference
      NvmlSensor m_sensor;
      std::vector<SignalInfo> m_signals;
      std::vector<Sample> m_samples;
};

bool has_unavailable(const NvmlSensor& sensor, const std::string& what, const std::string& reason) {
    const auto entries = sensor.unavailable();
    return std::any_of(entries.begin(), entries.end(),
                       [&](const Unavailable& u) { return u.what == what && u.reason == reason; });
}

// Sets an environment variable for one scope, restoring what was there.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const std::string& value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (m_old) {
            ::setenv(m_name, m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name);
        }
    }

  private:
    const char* m_name;
    std::optional<std::string> m_old;
};

const char* const kPerGpuSignals[] = {
    "energy_joules_total",   "power_watts",          "utilization_ratio", "memory_utilization_ratio",
    "temperature_celsius",   "sm_clock_hz",          "memory_clock_hz",   "power_limit_watts",
    "power_limit_min_watts", "power_limit_max_watts"};

TEST(NvmlSensor, DiscoversEightGpusWithEverySignalInSiUnits) {
    FakeNvml fake;
    fake.apply("device_count 8\ndevice 5 name NVIDIA A100-SXM4-40GB\n");
    Probe probe(fake.path());

    ASSERT_TRUE(probe.sensor().available());
    EXPECT_EQ(probe.signals().size(), 8u * std::size(kPerGpuSignals));
    for (int gpu = 0; gpu < 8; ++gpu) {
        for (const char* suffix : kPerGpuSignals) {
            EXPECT_TRUE(probe.has("gpu." + std::to_string(gpu) + "." + suffix)) << gpu << " " << suffix;
        }
    }
    EXPECT_TRUE(probe.sensor().unavailable().empty());
    const auto gpus = probe.sensor().gpus();
    ASSERT_EQ(gpus.size(), 8u);
    EXPECT_EQ(gpus[5].name, "NVIDIA A100-SXM4-40GB");
    EXPECT_EQ(gpus[0].name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(gpus[3].uuid, "GPU-fa4e0000-0000-0000-0000-000000000003");
    EXPECT_TRUE(gpus[0].power_instant);
    EXPECT_EQ(probe.info("gpu.2.power_watts").unit, "W");
    EXPECT_EQ(probe.info("gpu.2.energy_joules_total").unit, "J");
    EXPECT_EQ(probe.info("gpu.2.energy_joules_total").provenance, Provenance::measured);

    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.7.energy_joules_total"), 0.0);  // total since discovery
    EXPECT_EQ(probe.value("gpu.7.power_watts"), 310.0);        // instant field, mW -> W
    EXPECT_EQ(probe.value("gpu.7.utilization_ratio"), 0.5);
    EXPECT_EQ(probe.value("gpu.7.memory_utilization_ratio"), 0.2);
    EXPECT_EQ(probe.value("gpu.7.temperature_celsius"), 45.0);
    EXPECT_EQ(probe.value("gpu.7.sm_clock_hz"), 1980e6);
    EXPECT_EQ(probe.value("gpu.7.memory_clock_hz"), 2619e6);
    EXPECT_EQ(probe.value("gpu.7.power_limit_watts"), 700.0);
    EXPECT_EQ(probe.value("gpu.7.power_limit_min_watts"), 200.0);
    EXPECT_EQ(probe.value("gpu.7.power_limit_max_watts"), 700.0);
    EXPECT_EQ(probe.sensor().read_errors(), 0u);
}

TEST(NvmlSensor, EnergyIsTheExactMillijouleDeltaInJoules) {
    FakeNvml fake;
    fake.apply("device_count 2\ndevice 0 energy_mj 1000000123\ndevice 1 energy_mj 5\n");
    Probe probe(fake.path());
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 0.0);

    fake.apply("device 0 energy_mj 1000001234\ndevice 1 energy_mj 4000000000005\n");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 1.111);
    EXPECT_EQ(probe.value("gpu.1.energy_joules_total"), 4e9);  // 4e12 mJ: beyond 32 bits, still exact

    fake.apply("device 0 energy_mj 1000001235\n");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 1.112);
}

TEST(NvmlSensor, EnergyCounterGoingBackwardsAddsNothingAndIsCounted) {
    FakeNvml fake;
    fake.apply("device_count 1\ndevice 0 energy_mj 10000\n");
    Probe probe(fake.path());
    fake.apply("device 0 energy_mj 12000\n");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 2.0);

    fake.apply("device 0 energy_mj 11000\n");  // a glitch
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 2.0);
    EXPECT_EQ(probe.sensor().energy_backward_steps(), 1u);

    fake.apply("device 0 energy_mj 12500\n");  // back above: counting resumes from 12000
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 2.5);
    EXPECT_EQ(probe.sensor().energy_counter_resets(), 0u);
}

TEST(NvmlSensor, PowerIsTheInstantFieldWhereAvailableElseTheAverage) {
    FakeNvml fake;
    fake.apply("device_count 2\ndevice 1 power_instant_mw none\n");
    Probe probe(fake.path());
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.power_watts"), 310.0);
    EXPECT_EQ(probe.value("gpu.1.power_watts"), 300.0);
    EXPECT_NE(probe.info("gpu.0.power_watts").description.find("instant"), std::string::npos);
    EXPECT_NE(probe.info("gpu.1.power_watts").description.find("averaged"), std::string::npos);
    const auto gpus = probe.sensor().gpus();
    EXPECT_TRUE(gpus[0].power_instant);
    EXPECT_FALSE(gpus[1].power_instant);
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 1 instant power", "not supported by this GPU"));
    // Each read asks each GPU once, by the method chosen at discovery.
    const auto fields = fake.calls("nvmlDeviceGetFieldValues");
    const auto average = fake.calls("nvmlDeviceGetPowerUsage");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(fake.calls("nvmlDeviceGetFieldValues"), fields + 1);
    EXPECT_EQ(fake.calls("nvmlDeviceGetPowerUsage"), average + 1);
}

TEST(NvmlSensor, NoFieldValuesAtAllFallsBackToAverageOnEveryGpu) {
    FakeNvml fake;
    fake.apply("device_count 2\nerror nvmlDeviceGetFieldValues NOT_SUPPORTED\n");
    Probe probe(fake.path());
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.0.power_watts"), 300.0);
    EXPECT_EQ(probe.value("gpu.1.power_watts"), 300.0);
}

TEST(NvmlSensor, NotSupportedLeavesTheSignalOutWithAnUnavailableEntry) {
    FakeNvml fake;
    fake.apply(
        "device_count 3\n"
        "device 2 error nvmlDeviceGetTemperature NOT_SUPPORTED\n"
        "device 1 error nvmlDeviceGetTotalEnergyConsumption NOT_SUPPORTED\n"
        "device 0 error nvmlDeviceGetPowerManagementLimitConstraints NO_PERMISSION\n");
    Probe probe(fake.path());
    EXPECT_FALSE(probe.has("gpu.2.temperature_celsius"));
    EXPECT_TRUE(probe.has("gpu.1.temperature_celsius"));
    EXPECT_FALSE(probe.has("gpu.1.energy_joules_total"));
    EXPECT_FALSE(probe.has("gpu.0.power_limit_min_watts"));
    EXPECT_FALSE(probe.has("gpu.0.power_limit_max_watts"));
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 2 temperature", "not supported by this GPU"));
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 1 total energy counter", "not supported by this GPU"));
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 0 power limit constraints", "permission denied"));
    EXPECT_EQ(probe.sensor().unavailable().size(), 3u);

    // The unsupported call is never made again.
    const auto temperature_calls = fake.calls("nvmlDeviceGetTemperature");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(fake.calls("nvmlDeviceGetTemperature"), temperature_calls + 2);
    EXPECT_EQ(probe.sensor().read_errors(), 0u);
}

TEST(NvmlSensor, TransientErrorLeavesOneSampleMissingAndIsRetried) {
    FakeNvml fake;
    fake.apply("device_count 2\n");
    Probe probe(fake.path());
    fake.apply("device 1 error nvmlDeviceGetTemperature UNKNOWN 1\n");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.1.temperature_celsius"), std::nullopt);
    EXPECT_EQ(probe.value("gpu.1.power_watts"), 310.0);
    EXPECT_EQ(probe.value("gpu.0.temperature_celsius"), 45.0);
    EXPECT_EQ(probe.sensor().read_errors(), 1u);
    EXPECT_NE(probe.sensor().last_error().find("nvmlDeviceGetTemperature (GPU 1)"), std::string::npos);

    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.1.temperature_celsius"), 45.0);
    EXPECT_EQ(probe.sensor().read_errors(), 1u);
}

TEST(NvmlSensor, LostGpuStaysMissingWhileTheOthersKeepWorking) {
    FakeNvml fake;
    fake.apply("device_count 8\ndevice all energy_step_mj 1000\n");
    Probe probe(fake.path());
    ASSERT_TRUE(probe.read());
    // GPU 3 answers two more calls, then falls off the bus in the middle of the next read.
    fake.apply("device 3 lost_after_calls 2\n");
    ASSERT_TRUE(probe.read());
    for (const char* suffix : kPerGpuSignals) {
        EXPECT_EQ(probe.value(std::string("gpu.3.") + suffix), std::nullopt) << suffix;
        EXPECT_TRUE(probe.value(std::string("gpu.4.") + suffix).has_value()) << suffix;
    }
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 2.0);
    EXPECT_EQ(probe.sensor().read_errors(), 1u);
    EXPECT_TRUE(probe.sensor().gpus()[3].lost);

    // From then on the lost GPU is not called and stays missing; the rest keep counting.
    const long long gpu3_calls = fake.device_value(3, "calls");
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(fake.device_value(3, "calls"), gpu3_calls);
    EXPECT_EQ(probe.value("gpu.3.energy_joules_total"), std::nullopt);
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 3.0);
    EXPECT_EQ(probe.sensor().read_errors(), 1u);
}

TEST(NvmlSensor, ReadFailsOnlyWhenEveryGpuFailed) {
    FakeNvml fake;
    fake.apply("device_count 2\n");
    Probe probe(fake.path());
    fake.apply("device 0 lost\n");
    EXPECT_TRUE(probe.read());
    fake.apply("device 1 lost\n");
    const auto result = probe.read();
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("GPU is lost"), std::string::npos) << result.error().message;
    EXPECT_EQ(probe.value("gpu.1.energy_joules_total"), std::nullopt);
}

TEST(NvmlSensor, GpuLostAtDiscoveryIsReportedAndLeftOut) {
    FakeNvml fake;
    fake.apply("device_count 2\ndevice 0 lost\n");
    Probe probe(fake.path());
    EXPECT_FALSE(probe.has("gpu.0.energy_joules_total"));
    EXPECT_TRUE(probe.has("gpu.1.energy_joules_total"));
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 0", "lost (GPU_IS_LOST at discovery)"));
    EXPECT_TRUE(probe.read());
}

TEST(NvmlSensor, MissingLibraryIsUnavailableAndNeverThrows) {
    NvmlSensor sensor(NvmlSensorOptions{"/nonexistent/libnvidia-ml.so.1"});
    EXPECT_TRUE(sensor.discover().empty());
    EXPECT_FALSE(sensor.available());
    const auto entries = sensor.unavailable();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].what, "NVML");
    EXPECT_EQ(entries[0].reason, "not present");
    EXPECT_EQ(
        entries[0].fix,
        "install the NVIDIA driver or set JOULEPILOT_NVML_LIBRARY or [nvml] library in the config (tried "
        "/nonexistent/libnvidia-ml.so.1)");
    EXPECT_TRUE(sensor.read({}));
    EXPECT_FALSE(sensor.process_usage());
    EXPECT_NE(sensor.last_error().find("/nonexistent/libnvidia-ml.so.1"), std::string::npos);
}

TEST(NvmlSensor, ALibraryThatIsNotNvmlIsUnavailable) {
    NvmlSensor sensor(NvmlSensorOptions{"libm.so.6"});
    EXPECT_TRUE(sensor.discover().empty());
    const auto entries = sensor.unavailable();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].what, "NVML");
    EXPECT_NE(entries[0].reason.find("not an NVML library"), std::string::npos) << entries[0].reason;
}

TEST(NvmlSensor, InitFailureSaysWhy) {
    FakeNvml fake;
    fake.apply("device_count 1\nerror nvmlInit DRIVER_NOT_LOADED\n");
    Probe probe(fake.path());
    EXPECT_TRUE(probe.signals().empty());
    const auto entries = probe.sensor().unavailable();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_NE(entries[0].reason.find("Driver Not Loaded"), std::string::npos) << entries[0].reason;
    EXPECT_EQ(fake.calls("nvmlShutdown"), 0u);  // no session was opened, so none is closed
}

TEST(NvmlSensor, NoGpuIsUnavailableNotAnError) {
    FakeNvml fake;
    fake.apply("device_count 0\n");
    Probe probe(fake.path());
    EXPECT_TRUE(probe.signals().empty());
    EXPECT_TRUE(has_unavailable(probe.sensor(), "NVIDIA GPUs", "not present"));
    EXPECT_TRUE(probe.read());
}

TEST(NvmlSensor, EnvironmentNamesTheLibraryAndTheFakeReadsItsStateFile) {
    FakeNvml fake;
    const std::filesystem::path state =
        std::filesystem::temp_directory_path() / ("jp-fake-nvml-" + std::to_string(::getpid()) + ".state");
    {
        std::ofstream out(state);
        out << "# two GPUs\ndevice_count 2\ndevice 1 name Tesla V100-SXM2-16GB\ndevice 1 power_mw 123456\n";
    }
    ScopedEnv library("JOULEPILOT_NVML_LIBRARY", fake.path());
    ScopedEnv state_env("JOULEPILOT_FAKE_NVML_STATE", state.string());
    {
        NvmlSensor sensor;
        const auto signals = sensor.discover();
        EXPECT_EQ(sensor.library_path(), fake.path());
        const auto gpus = sensor.gpus();
        ASSERT_EQ(gpus.size(), 2u);
        EXPECT_EQ(gpus[1].name, "Tesla V100-SXM2-16GB");
        // An explicit option wins over the environment.
        NvmlSensor explicit_path(NvmlSensorOptions{"/nonexistent/libnvidia-ml.so.1"});
        explicit_path.discover();
        EXPECT_EQ(explicit_path.library_path(), "/nonexistent/libnvidia-ml.so.1");
    }
    std::filesystem::remove(state);
}

TEST(NvmlSensor, SessionIsOpenedOnceAndShutDownWithTheSensor) {
    FakeNvml fake;
    fake.apply("device_count 1\n");
    {
        Probe probe(fake.path());
        ASSERT_TRUE(probe.read());
        EXPECT_EQ(fake.calls("nvmlInit_v2"), 1u);
        EXPECT_EQ(fake.calls("nvmlShutdown"), 0u);
    }
    EXPECT_EQ(fake.calls("nvmlShutdown"), 1u);
}

TEST(NvmlSensor, NewestSymbolVersionsAreUsed) {
    FakeNvml fake;
    fake.apply("device_count 1\ndevice 0 process 4242 1048576 10 5\n");
    Probe probe(fake.path());
    ASSERT_TRUE(probe.sensor().process_usage());
    EXPECT_EQ(fake.calls("nvmlInit_v2"), 1u);
    EXPECT_EQ(fake.calls("nvmlInit"), 0u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetCount_v2"), 1u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetHandleByIndex_v2"), 1u);
    EXPECT_GE(fake.calls("nvmlDeviceGetComputeRunningProcesses_v3"), 1u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetComputeRunningProcesses_v2"), 0u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetComputeRunningProcesses"), 0u);
}

TEST(NvmlSensor, LibraryWithoutVersionedSymbolsFallsBackToTheUnversionedOnes) {
    FakeNvml fake(testing::kFakeNvmlNoV3);
    fake.apply("device_count 2\ndevice 1 process 77 3000000000 40 10\ndevice 1 process 78 1000 0 0\n");
    Probe probe(fake.path());
    ASSERT_EQ(probe.sensor().gpus().size(), 2u);
    ASSERT_TRUE(probe.read());
    EXPECT_EQ(probe.value("gpu.1.power_watts"), 310.0);
    EXPECT_EQ(fake.calls("nvmlInit"), 1u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetCount"), 1u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetHandleByIndex"), 2u);

    // The unversioned process list has the 16-byte record: a layout mix-up would scramble these.
    const auto usage = probe.sensor().process_usage();
    ASSERT_TRUE(usage);
    ASSERT_EQ(usage->size(), 2u);
    EXPECT_EQ((*usage)[0].gpu, 1u);
    EXPECT_EQ((*usage)[0].pid, 77u);
    EXPECT_EQ((*usage)[0].used_memory_bytes, 3000000000ull);
    EXPECT_EQ((*usage)[1].pid, 78u);
    EXPECT_EQ((*usage)[1].used_memory_bytes, 1000ull);
    EXPECT_EQ((*usage)[0].gpu_instance_id, std::nullopt);
    EXPECT_GE(fake.calls("nvmlDeviceGetComputeRunningProcesses"), 1u);
}

TEST(NvmlSensor, MigGpuCountsItsEnergyOnceAsOnePhysicalGpu) {
    FakeNvml fake;
    fake.apply(
        "device_count 2\n"
        "device 0 mig_mode 1\ndevice 0 mig_instances 7\n"
        "device all energy_step_mj 500\n"
        "device 0 process 10 1000 0 0 3 0\n");
    Probe probe(fake.path());
    std::size_t energy_signals = 0;
    for (const SignalInfo& s : probe.signals()) {
        energy_signals += s.name.ends_with("energy_joules_total") ? 1 : 0;
    }
    EXPECT_EQ(energy_signals, 2u);
    EXPECT_TRUE(probe.sensor().gpus()[0].mig_enabled);
    EXPECT_FALSE(probe.sensor().gpus()[1].mig_enabled);
    // MIG instances are never enumerated, so nothing can count them next to their parent.
    EXPECT_EQ(fake.calls("nvmlDeviceGetMigDeviceHandleByIndex"), 0u);
    EXPECT_EQ(fake.calls("nvmlDeviceGetMaxMigDeviceCount"), 0u);
    // NVML has no utilisation for a GPU in MIG mode; the entry says why.
    EXPECT_FALSE(probe.has("gpu.0.utilization_ratio"));
    EXPECT_TRUE(has_unavailable(probe.sensor(), "GPU 0 utilisation", "not supported in MIG mode"));
    EXPECT_TRUE(
        has_unavailable(probe.sensor(), "GPU 0 per-process utilisation", "not supported in MIG mode"));

    ASSERT_TRUE(probe.read());
    ASSERT_TRUE(probe.read());
    const double total =
        *probe.value("gpu.0.energy_joules_total") + *probe.value("gpu.1.energy_joules_total");
    EXPECT_EQ(total, 2.0);  // 2 GPUs x 2 reads x 0.5 J

    const auto usage = probe.sensor().process_usage();
    ASSERT_TRUE(usage);
    ASSERT_EQ(usage->size(), 1u);
    EXPECT_EQ((*usage)[0].gpu_instance_id, 3u);
    EXPECT_EQ((*usage)[0].compute_instance_id, 0u);
    EXPECT_EQ((*usage)[0].sm_share, std::nullopt);
}

TEST(NvmlSensor, CapabilitiesAreProbedOnceNotOnEveryRead) {
    FakeNvml fake;
    fake.apply("device_count 8\n");
    Probe probe(fake.path());
    const char* const probe_only[] = {"nvmlDeviceGetName",
                                      "nvmlDeviceGetUUID",
                                      "nvmlDeviceGetMigMode",
                                      "nvmlDeviceGetPowerManagementLimitConstraints",
                                      "nvmlDeviceGetPowerUsage",
                                      "nvmlDeviceGetPowerManagementLimit",
                                      "nvmlDeviceGetComputeRunningProcesses_v3",
                                      "nvmlDeviceGetProcessUtilization",
                                      "nvmlDeviceGetCount_v2",
                                      "nvmlDeviceGetHandleByIndex_v2"};
    std::vector<unsigned long long> before;
    for (const char* name : probe_only) before.push_back(fake.calls(name));
    EXPECT_EQ(fake.calls("nvmlDeviceGetPowerManagementLimitConstraints"), 8u);

    const auto energy = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    const auto clocks = fake.calls("nvmlDeviceGetClockInfo");
    const auto limit = fake.calls("nvmlDeviceGetEnforcedPowerLimit");
    constexpr int kReads = 10;
    for (int i = 0; i < kReads; ++i) ASSERT_TRUE(probe.read());

    for (std::size_t i = 0; i < std::size(probe_only); ++i) {
        EXPECT_EQ(fake.calls(probe_only[i]), before[i]) << probe_only[i];
    }
    // One call per GPU per read for each signal (two clocks), no more.
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), energy + 8 * kReads);
    EXPECT_EQ(fake.calls("nvmlDeviceGetClockInfo"), clocks + 2 * 8 * kReads);
    EXPECT_EQ(fake.calls("nvmlDeviceGetEnforcedPowerLimit"), limit + 8 * kReads);
    EXPECT_EQ(fake.calls("nvmlErrorString"), 0u);
}

TEST(NvmlSensor, ProcessUsageGivesEachProcessItsShareOfTheGpu) {
    FakeNvml fake;
    fake.apply(
        "device_count 2\n"
        "device 0 process 100 1073741824 30 10\n"
        "device 0 process 200 2147483648 10 5\n"
        "device 1 process 300 4096 0 0\n");
    Probe probe(fake.path());
    for (int call = 0; call < 2; ++call) {  // the second call sees only samples newer than the first
        const auto usage = probe.sensor().process_usage();
        ASSERT_TRUE(usage);
        ASSERT_EQ(usage->size(), 3u);
        const GpuProcessUsage& a = (*usage)[0];
        const GpuProcessUsage& b = (*usage)[1];
        const GpuProcessUsage& c = (*usage)[2];
        EXPECT_EQ(a.pid, 100u);
        EXPECT_EQ(a.gpu, 0u);
        EXPECT_EQ(a.used_memory_bytes, 1073741824ull);
        EXPECT_DOUBLE_EQ(*a.sm_utilization, 0.30);
        EXPECT_DOUBLE_EQ(*a.memory_utilization, 0.10);
        EXPECT_DOUBLE_EQ(*a.sm_share, 0.75);
        EXPECT_DOUBLE_EQ(*b.sm_share, 0.25);
        EXPECT_EQ(a.gpu_instance_id, std::nullopt);
        EXPECT_EQ(c.gpu, 1u);
        EXPECT_EQ(*c.sm_share, 0.0);  // nothing busy on GPU 1: no share, not a division by zero
    }
}

TEST(NvmlSensor, ProcessListLongerThanTheFirstBufferIsReadWhole) {
    FakeNvml fake;
    std::string state = "device_count 1\n";
    for (int pid = 1; pid <= 100; ++pid) state += "device 0 process " + std::to_string(pid) + " 1 1 0\n";
    fake.apply(state);
    Probe probe(fake.path());
    const auto usage = probe.sensor().process_usage();
    ASSERT_TRUE(usage);
    EXPECT_EQ(usage->size(), 100u);
    EXPECT_DOUBLE_EQ(*usage->back().sm_share, 0.01);
}

TEST(NvmlSensor, EnergyOnlyOffersOneSignalPerGpuAndOneCallPerRead) {
    FakeNvml fake;
    fake.apply(
        "device_count 4\ndevice all energy_step_mj 250\ndevice 2 error nvmlDeviceGetTemperature "
        "NOT_SUPPORTED\n");
    NvmlSensor sensor(NvmlSensorOptions{fake.path(), true});
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 4u);
    EXPECT_EQ(signals[3].name, "gpu.3.energy_joules_total");
    EXPECT_TRUE(sensor.unavailable().empty());  // temperature was never asked for
    EXPECT_EQ(fake.calls("nvmlDeviceGetTemperature"), 0u);
    std::vector<Sample> samples(signals.size());
    const auto energy = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    ASSERT_TRUE(sensor.read(samples));
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), energy + 4);
    EXPECT_EQ(fake.calls("nvmlDeviceGetFieldValues"), 0u);
    EXPECT_EQ(samples[1].value, 0.25);
}

// ---- Energy counter read at most every energy_read_interval (full mode) ----------------------------------

TEST(NvmlSensor, FullModeReadsTheEnergyCounterEveryFiveSecondsByDefaultAndSaysItIsDerived) {
    FakeNvml fake;
    fake.apply("device_count 1\n");
    NvmlSensor defaults(NvmlSensorOptions{fake.path()});
    const auto signals = defaults.discover();
    ASSERT_FALSE(signals.empty());
    EXPECT_EQ(signals[0].name, "gpu.0.energy_joules_total");
    EXPECT_EQ(signals[0].provenance, Provenance::derived);
    EXPECT_NE(signals[0].description.find("every 5 s"), std::string::npos);
    EXPECT_EQ(NvmlSensorOptions{}.energy_read_interval.value(), 5.0);
}

TEST(NvmlSensor, EnergyCounterIsReadAFifthAsOftenAndTheRunTotalIsTheCounterDeltaExactly) {
    FakeNvml fake;
    // Instant power 310 W; the counter truly advances 300 J per second (1,500,000 mJ per 5 s), so the
    // integral between counter reads is a little off and each counter read must pull the total back to
    // the truth.
    fake.apply("device_count 2\ndevice all energy_mj 7000000\n");
    Probe probe(fake.path(), 5.0);
    EXPECT_EQ(probe.info("gpu.0.energy_joules_total").provenance, Provenance::derived);
    const auto calls_before = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    const auto power_before = fake.calls("nvmlDeviceGetFieldValues");
    ASSERT_TRUE(probe.read());  // tick 0, at discovery time: no power span yet, so the counter
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 0.0);
    constexpr int kTicks = 50;
    std::uint64_t counter_mj = 7000000;
    double previous = 0.0;
    for (int tick = 1; tick <= kTicks; ++tick) {
        probe.clock().advance(core::Seconds(1.0));
        // The counter's true value at this tick (the fake returns whatever is set when it is called).
        counter_mj += 300000;
        fake.apply("device all energy_mj " + std::to_string(counter_mj) + "\n");
        ASSERT_TRUE(probe.read());
        const double total = *probe.value("gpu.0.energy_joules_total");
        EXPECT_GE(total, previous) << "tick " << tick;  // never decreases
        previous = total;
        if (probe.sensor().energy_read_was_derived(0)) {
            EXPECT_NE(tick % 5, 0) << tick;
        } else {
            // A counter read: exactly the counter delta since discovery, in integer mJ.
            EXPECT_EQ(total, static_cast<double>(counter_mj - 7000000) / 1000.0) << "tick " << tick;
        }
    }
    const auto energy_calls = fake.calls("nvmlDeviceGetTotalEnergyConsumption") - calls_before;
    // The first read (no power span yet) and then every fifth: 1 + 10 per GPU, against 51 per GPU.
    EXPECT_EQ(energy_calls, 2u * (1 + kTicks / 5));
    EXPECT_EQ(fake.calls("nvmlDeviceGetFieldValues") - power_before, 2u * (kTicks + 1));  // every read
    EXPECT_EQ(probe.sensor().energy_counter_reads(), 2u * (1 + kTicks / 5));
    // The run ends on a counter read (tick 50): the total is the counter delta, exactly.
    EXPECT_FALSE(probe.sensor().energy_read_was_derived(0));
    EXPECT_EQ(*probe.value("gpu.0.energy_joules_total"), 15000.0);
    EXPECT_EQ(*probe.value("gpu.1.energy_joules_total"), 15000.0);
}

TEST(NvmlSensor, BetweenCounterReadsEnergyIsTheLastCounterPlusTrapezoidsOfPower) {
    FakeNvml fake;
    fake.apply("device_count 1\ndevice 0 energy_mj 0\ndevice 0 power_instant_mw 100000\n");
    Probe probe(fake.path(), 5.0);
    probe.clock().advance(core::Seconds(1.0));
    fake.apply("device 0 energy_mj 100000\n");
    ASSERT_TRUE(probe.read());  // counter: 100 J
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 100.0);
    EXPECT_FALSE(probe.sensor().energy_read_was_derived(0));

    fake.apply("device 0 power_instant_mw 300000\n");
    probe.clock().advance(core::Seconds(2.0));
    ASSERT_TRUE(probe.read());  // (100 W + 300 W) / 2 x 2 s = 400 J on top of the counter
    EXPECT_DOUBLE_EQ(*probe.value("gpu.0.energy_joules_total"), 500.0);
    EXPECT_TRUE(probe.sensor().energy_read_was_derived(0));

    probe.clock().advance(core::Seconds(1.0));
    ASSERT_TRUE(probe.read());  // + 300 J
    EXPECT_DOUBLE_EQ(*probe.value("gpu.0.energy_joules_total"), 800.0);

    // 3.4 s after the counter read: still derived. Then 4.6 s plus half the 1.2 s tick passes 5 s: the
    // counter. It says less than the integral: the total holds, then follows the counter.
    probe.clock().advance(core::Seconds(0.4));
    ASSERT_TRUE(probe.read());
    EXPECT_TRUE(probe.sensor().energy_read_was_derived(0));
    EXPECT_NEAR(*probe.value("gpu.0.energy_joules_total"), 920.0, 1e-9);  // 0.4 s is not exact in binary
    fake.apply("device 0 energy_mj 700000\n");
    const auto counter_calls = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    probe.clock().advance(core::Seconds(1.2));
    ASSERT_TRUE(probe.read());  // counter read: 700 J < 920 J reported: hold
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), counter_calls + 1);
    EXPECT_NEAR(*probe.value("gpu.0.energy_joules_total"), 920.0, 1e-9);
    EXPECT_TRUE(probe.sensor().energy_read_was_derived(0));
    fake.apply("device 0 energy_mj 2000000\n");
    for (int i = 0; i < 5; ++i) {
        probe.clock().advance(core::Seconds(1.0));
        ASSERT_TRUE(probe.read());
    }
    // The next counter read (5 s later) is above the held total: exact again.
    EXPECT_EQ(probe.value("gpu.0.energy_joules_total"), 2000.0);
    EXPECT_FALSE(probe.sensor().energy_read_was_derived(0));
}

TEST(NvmlSensor, NoPowerReadingMeansTheCounterIsReadThatTick) {
    FakeNvml fake;
    fake.apply("device_count 1\ndevice 0 energy_step_mj 1000\n");
    Probe probe(fake.path(), 5.0);
    probe.clock().advance(core::Seconds(1.0));
    ASSERT_TRUE(probe.read());
    const auto before = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    fake.apply("error nvmlDeviceGetFieldValues UNKNOWN 1\n");
    probe.clock().advance(core::Seconds(1.0));
    ASSERT_TRUE(probe.read());
    EXPECT_FALSE(probe.value("gpu.0.power_watts"));
    EXPECT_TRUE(probe.value("gpu.0.energy_joules_total"));
    EXPECT_FALSE(probe.sensor().energy_read_was_derived(0));
    probe.clock().advance(core::Seconds(1.0));
    ASSERT_TRUE(probe.read());  // no power at the start of this span either: the counter again
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), before + 2);
    probe.clock().advance(core::Seconds(1.0));
    ASSERT_TRUE(probe.read());  // power at both ends now: integrated
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), before + 2);
    EXPECT_TRUE(probe.sensor().energy_read_was_derived(0));
}

TEST(NvmlSensor, EnergyOnlyAndIntervalZeroReadTheCounterEveryTime) {
    FakeNvml fake;
    fake.apply("device_count 1\n");
    Probe every(fake.path(), 0.0);
    EXPECT_EQ(every.info("gpu.0.energy_joules_total").provenance, Provenance::measured);
    const auto before = fake.calls("nvmlDeviceGetTotalEnergyConsumption");
    for (int i = 0; i < 5; ++i) {
        every.clock().advance(core::Seconds(1.0));
        ASSERT_TRUE(every.read());
        EXPECT_FALSE(every.sensor().energy_read_was_derived(0));
    }
    EXPECT_EQ(fake.calls("nvmlDeviceGetTotalEnergyConsumption"), before + 5);
}

TEST(NvmlSensor, RediscoveryStartsOver) {
    FakeNvml fake;
    fake.apply("device_count 2\n");
    NvmlSensor sensor(NvmlSensorOptions{fake.path()});
    EXPECT_EQ(sensor.discover().size(), 20u);
    EXPECT_EQ(sensor.discover().size(), 20u);
    EXPECT_EQ(fake.calls("nvmlInit_v2"), 2u);
    EXPECT_EQ(fake.calls("nvmlShutdown"), 1u);
}

}  // namespace
}  // namespace joulepilot::sense
