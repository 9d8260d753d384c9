// The exported C functions of libjoulepilot.so, against the fake NVML library.
#include "joulepilot.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace {

using joulepilot::testing::FakeNvml;

std::string last_error() { return joulepilot_last_error(); }

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
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

// A private copy of a sysfs fixture tree (the tests move its counters), removed at the end.
class SysfsCopy {
public:
    explicit SysfsCopy(const std::string& fixture) {
        m_root = std::filesystem::temp_directory_path() /
                 ("joulepilot-capi-sysfs-" + std::to_string(::getpid()) + "-" + std::to_string(s_count++));
        std::filesystem::remove_all(m_root);
        if (!fixture.empty()) {
            std::filesystem::copy(std::string(JOULEPILOT_TEST_FIXTURES) + "/sysfs/" + fixture, m_root,
                                  std::filesystem::copy_options::recursive);
        } else {
            std::filesystem::create_directories(m_root);
        }
    }
    ~SysfsCopy() { std::filesystem::remove_all(m_root); }
    SysfsCopy(const SysfsCopy&) = delete;
    SysfsCopy& operator=(const SysfsCopy&) = delete;

    [[nodiscard]] std::string root() const { return m_root.string(); }
    void add_uj(const std::string& zone, long long uj) const {
        const auto path = m_root / "sys/class/powercap" / zone / "energy_uj";
        long long value = 0;
        std::ifstream(path) >> value;
        std::ofstream(path) << value + uj << "\n";
    }

private:
    static inline int s_count = 0;
    std::filesystem::path m_root;
};

class CApi : public ::testing::Test {
  protected:
    void SetUp() override {
        m_fake.apply("device_count 2\ndevice 0 energy_step_mj 1500\ndevice 1 energy_step_mj 250\n");
        joulepilot_meter_options_init(&m_options);
        m_options.domains = JOULEPILOT_DOMAIN_GPU;
        m_options.nvml_library = m_fake.path().c_str();
    }
    void TearDown() override { joulepilot_meter_close(m_meter); }

    joulepilot_meter* open() {
        EXPECT_EQ(joulepilot_meter_open(&m_options, &m_meter), JOULEPILOT_OK) << last_error();
        return m_meter;
    }

    FakeNvml m_fake;
    joulepilot_meter_options m_options{};
    joulepilot_meter* m_meter = nullptr;
};

TEST_F(CApi, ReportsItsVersion) {
    EXPECT_EQ(joulepilot_api_version(), static_cast<uint32_t>(JOULEPILOT_API_VERSION));
    EXPECT_STRNE(joulepilot_version(), "");
}

TEST_F(CApi, OneDomainPerGpu) {
    joulepilot_meter* meter = open();
    ASSERT_EQ(joulepilot_meter_domain_count(meter), 2u);
    EXPECT_STREQ(joulepilot_meter_domain_name(meter, 0), "gpu.0");
    EXPECT_STREQ(joulepilot_meter_domain_name(meter, 1), "gpu.1");
    EXPECT_EQ(joulepilot_meter_domain_name(meter, 2), nullptr);
    EXPECT_EQ(joulepilot_meter_unavailable_count(meter), 0u);
}

TEST_F(CApi, WindowJoulesPerDomain) {
    joulepilot_meter* meter = open();
    joulepilot_window w = 0;
    ASSERT_EQ(joulepilot_window_begin(meter, "prefill", &w), JOULEPILOT_OK);
    EXPECT_NE(w, 0u);
    ASSERT_EQ(joulepilot_window_end(meter, w), JOULEPILOT_OK);
    double joules = 0.0;
    ASSERT_EQ(joulepilot_window_joules(meter, w, 0, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 1.5);
    ASSERT_EQ(joulepilot_window_joules(meter, w, 1, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 0.25);
    double all[2] = {0, 0};
    double seconds = -1.0;
    ASSERT_EQ(joulepilot_window_read(meter, w, all, 2, &seconds), JOULEPILOT_OK);
    EXPECT_EQ(all[0], 1.5);
    EXPECT_EQ(all[1], 0.25);
    EXPECT_GE(seconds, 0.0);
    EXPECT_EQ(joulepilot_window_release(meter, w), JOULEPILOT_OK);
    EXPECT_EQ(last_error(), "");
}

TEST_F(CApi, NestedWindows) {
    joulepilot_meter* meter = open();
    joulepilot_window outer = 0;
    joulepilot_window inner = 0;
    ASSERT_EQ(joulepilot_window_begin(meter, "request", &outer), JOULEPILOT_OK);
    ASSERT_EQ(joulepilot_window_begin(meter, "prefill", &inner), JOULEPILOT_OK);
    ASSERT_EQ(joulepilot_window_end(meter, inner), JOULEPILOT_OK);
    ASSERT_EQ(joulepilot_window_end(meter, outer), JOULEPILOT_OK);
    double joules = 0.0;
    ASSERT_EQ(joulepilot_window_joules(meter, inner, 0, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 1.5);
    ASSERT_EQ(joulepilot_window_joules(meter, outer, 0, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 4.5);
}

TEST_F(CApi, AGpuLostDuringAWindowHasNoValueForIt) {
    joulepilot_meter* meter = open();
    joulepilot_window w = 0;
    ASSERT_EQ(joulepilot_window_begin(meter, "decode", &w), JOULEPILOT_OK);
    m_fake.apply("device 1 lost\n");
    ASSERT_EQ(joulepilot_window_end(meter, w), JOULEPILOT_OK);
    double joules = 0.0;
    EXPECT_EQ(joulepilot_window_joules(meter, w, 1, &joules), JOULEPILOT_ERROR_MISSING);
    EXPECT_NE(last_error().find("window 'decode': counter unreadable for gpu.1"), std::string::npos)
        << last_error();
    double all[2] = {0, 0};
    EXPECT_EQ(joulepilot_window_read(meter, w, all, 2, nullptr), JOULEPILOT_ERROR_MISSING);
    EXPECT_EQ(all[0], 1.5);
    EXPECT_TRUE(std::isnan(all[1]));
}

TEST_F(CApi, MisuseReturnsAStatusAndAMessage) {
    joulepilot_meter* meter = open();
    joulepilot_window w = 0;
    double joules = 0.0;
    EXPECT_EQ(joulepilot_window_begin(nullptr, "x", &w), JOULEPILOT_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(joulepilot_window_begin(meter, "x", nullptr), JOULEPILOT_ERROR_INVALID_ARGUMENT);
    EXPECT_EQ(joulepilot_window_end(meter, 0), JOULEPILOT_ERROR_NOT_FOUND);
    EXPECT_NE(last_error().find("no window 0"), std::string::npos) << last_error();
    ASSERT_EQ(joulepilot_window_begin(meter, nullptr, &w), JOULEPILOT_OK);
    EXPECT_EQ(joulepilot_window_joules(meter, w, 7, &joules), JOULEPILOT_ERROR_INVALID_ARGUMENT);
    ASSERT_EQ(joulepilot_window_end(meter, w), JOULEPILOT_OK);
    EXPECT_EQ(joulepilot_window_end(meter, w), JOULEPILOT_ERROR_STATE);
    ASSERT_EQ(joulepilot_window_release(meter, w), JOULEPILOT_OK);
    EXPECT_EQ(joulepilot_window_release(meter, w), JOULEPILOT_ERROR_NOT_FOUND);
    EXPECT_EQ(joulepilot_window_seconds(meter, w, &joules), JOULEPILOT_ERROR_NOT_FOUND);
    EXPECT_EQ(joulepilot_meter_open(&m_options, nullptr), JOULEPILOT_ERROR_INVALID_ARGUMENT);
}

TEST_F(CApi, NothingToMeasureFailsSayingWhy) {
    const SysfsCopy empty("");  // no powercap: RAPL not present, whatever this machine has
    const ScopedEnv root("JOULEPILOT_SYSFS_ROOT", empty.root());
    m_options.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    m_options.domains = JOULEPILOT_DOMAIN_ALL;
    EXPECT_EQ(joulepilot_meter_open(&m_options, &m_meter), JOULEPILOT_ERROR_NO_DOMAINS);
    EXPECT_EQ(m_meter, nullptr);
    EXPECT_NE(last_error().find(
                  "NVML: not present (install the NVIDIA driver or set JOULEPILOT_NVML_LIBRARY or [nvml] "
                  "library in the config (tried /nonexistent/libnvidia-ml.so.1))"),
              std::string::npos)
        << last_error();

    m_options.allow_empty = 1;
    ASSERT_EQ(joulepilot_meter_open(&m_options, &m_meter), JOULEPILOT_OK) << last_error();
    EXPECT_EQ(joulepilot_meter_domain_count(m_meter), 0u);
    ASSERT_EQ(joulepilot_meter_unavailable_count(m_meter), 2u);
    const std::string rapl = joulepilot_meter_unavailable(m_meter, 1);
    EXPECT_NE(rapl.find("RAPL energy counters (" + empty.root()), std::string::npos) << rapl;
    EXPECT_NE(rapl.find("not present"), std::string::npos) << rapl;
    EXPECT_NE(rapl.find("modprobe intel_rapl_msr"), std::string::npos) << rapl;
    // A window over nothing is still a window (its duration is real).
    joulepilot_window w = 0;
    ASSERT_EQ(joulepilot_window_begin(m_meter, "empty", &w), JOULEPILOT_OK);
    ASSERT_EQ(joulepilot_window_end(m_meter, w), JOULEPILOT_OK);
    double seconds = -1.0;
    EXPECT_EQ(joulepilot_window_read(m_meter, w, nullptr, 0, &seconds), JOULEPILOT_OK);
    EXPECT_GE(seconds, 0.0);
}

TEST_F(CApi, OptionsFromAnotherApiVersionAreRefused) {
    m_options.api_version = JOULEPILOT_API_VERSION + 1;
    EXPECT_EQ(joulepilot_meter_open(&m_options, &m_meter), JOULEPILOT_ERROR_VERSION);
    joulepilot_meter_options_init(&m_options);
    m_options.struct_size = 4;
    EXPECT_EQ(joulepilot_meter_open(&m_options, &m_meter), JOULEPILOT_ERROR_VERSION);
}

TEST_F(CApi, DefaultOptionsTakeTheLibraryFromTheEnvironment) {
    const SysfsCopy empty("");
    const ScopedEnv root("JOULEPILOT_SYSFS_ROOT", empty.root());
    const char* old = std::getenv("JOULEPILOT_NVML_LIBRARY");
    const std::optional<std::string> saved = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
    ::setenv("JOULEPILOT_NVML_LIBRARY", m_fake.path().c_str(), 1);
    const joulepilot_status status = joulepilot_meter_open(nullptr, &m_meter);
    if (saved) {
        ::setenv("JOULEPILOT_NVML_LIBRARY", saved->c_str(), 1);
    } else {
        ::unsetenv("JOULEPILOT_NVML_LIBRARY");
    }
    ASSERT_EQ(status, JOULEPILOT_OK) << last_error();
    EXPECT_EQ(joulepilot_meter_domain_count(m_meter), 2u);
    // All domains were asked for: RAPL says it is not present under this root.
    EXPECT_EQ(joulepilot_meter_unavailable_count(m_meter), 1u);
}

TEST_F(CApi, CpuDomainsComeFromRaplBelowTheSysfsRoot) {
    const SysfsCopy tree("intel-2s");
    const ScopedEnv root("JOULEPILOT_SYSFS_ROOT", tree.root());
    m_options.domains = JOULEPILOT_DOMAIN_CPU | JOULEPILOT_DOMAIN_GPU;
    joulepilot_meter* meter = open();
    // GPUs first (their indices do not move), then each RAPL zone (the mmio duplicates left out).
    ASSERT_EQ(joulepilot_meter_domain_count(meter), 2u + 8u);
    EXPECT_STREQ(joulepilot_meter_domain_name(meter, 0), "gpu.0");
    std::optional<size_t> package1;
    std::optional<size_t> dram0;
    for (size_t d = 0; d < joulepilot_meter_domain_count(meter); ++d) {
        const std::string name = joulepilot_meter_domain_name(meter, d);
        if (name == "cpu.1.package") package1 = d;
        if (name == "cpu.0.dram") dram0 = d;
    }
    ASSERT_TRUE(package1 && dram0);
    EXPECT_EQ(joulepilot_meter_unavailable_count(meter), 0u);

    joulepilot_window outer = 0;
    joulepilot_window inner = 0;
    ASSERT_EQ(joulepilot_window_begin(meter, "request", &outer), JOULEPILOT_OK);
    tree.add_uj("intel-rapl:1", 3'000'000);
    ASSERT_EQ(joulepilot_window_begin(meter, "prefill", &inner), JOULEPILOT_OK);
    tree.add_uj("intel-rapl:1", 1'500'000);
    tree.add_uj("intel-rapl:0:2", 250'000);
    ASSERT_EQ(joulepilot_window_end(meter, inner), JOULEPILOT_OK);
    ASSERT_EQ(joulepilot_window_end(meter, outer), JOULEPILOT_OK);
    double joules = -1.0;
    ASSERT_EQ(joulepilot_window_joules(meter, inner, *package1, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 1.5);
    ASSERT_EQ(joulepilot_window_joules(meter, outer, *package1, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 4.5);
    ASSERT_EQ(joulepilot_window_joules(meter, inner, *dram0, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 0.25);
    ASSERT_EQ(joulepilot_window_joules(meter, inner, 0, &joules), JOULEPILOT_OK);
    EXPECT_EQ(joules, 1.5);  // the GPU still counts beside them
}

TEST_F(CApi, CloseShutsNvmlDownAndToleratesNull) {
    open();
    joulepilot_window w = 0;
    ASSERT_EQ(joulepilot_window_begin(m_meter, "left open", &w), JOULEPILOT_OK);
    joulepilot_meter_close(m_meter);
    m_meter = nullptr;
    EXPECT_EQ(m_fake.calls("nvmlShutdown"), 1u);
    joulepilot_meter_close(nullptr);
}

}  // namespace
