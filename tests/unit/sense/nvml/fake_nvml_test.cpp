// The fake NVML library itself: what the actuator tests will rely on (set calls recorded and reflected in
// later reads) and the counts file, called through dlsym exactly as production code would.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::sense {
namespace {

using testing::FakeNvml;

struct Device;
using Handle = Device*;

class RawNvml {
public:
    explicit RawNvml(const std::string& path) : m_handle(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {}
    ~RawNvml() { ::dlclose(m_handle); }
    RawNvml(const RawNvml&) = delete;
    RawNvml& operator=(const RawNvml&) = delete;

    template <class Fn>
    Fn fn(const char* name) const {
        return reinterpret_cast<Fn>(::dlsym(m_handle, name));
    }

private:
    void* m_handle;
};

TEST(FakeNvml, RecordsSetCallsAndReflectsThemInReads) {
    FakeNvml fake;
    fake.apply("device_count 2\n");
    RawNvml nvml(fake.path());
    ASSERT_EQ(nvml.fn<int (*)()>("nvmlInit_v2")(), 0);
    Handle gpu1 = nullptr;
    ASSERT_EQ(nvml.fn<int (*)(unsigned, Handle*)>("nvmlDeviceGetHandleByIndex_v2")(1, &gpu1), 0);

    const auto set_limit = nvml.fn<int (*)(Handle, unsigned)>("nvmlDeviceSetPowerManagementLimit");
    EXPECT_EQ(set_limit(gpu1, 450'000), 0);
    EXPECT_EQ(set_limit(gpu1, 50'000), 2);  // below the minimum: INVALID_ARGUMENT, not recorded
    EXPECT_EQ(fake.device_value(1, "power_limit_mw"), 450'000);
    EXPECT_EQ(fake.device_value(1, "enforced_power_limit_mw"), 450'000);

    const auto lock = nvml.fn<int (*)(Handle, unsigned, unsigned)>("nvmlDeviceSetGpuLockedClocks");
    const auto clock = nvml.fn<int (*)(Handle, int, unsigned*)>("nvmlDeviceGetClockInfo");
    EXPECT_EQ(lock(gpu1, 900, 1500), 0);
    unsigned sm_mhz = 0;
    ASSERT_EQ(clock(gpu1, 1, &sm_mhz), 0);
    EXPECT_EQ(sm_mhz, 1500u);  // 1980 clamped to the lock
    EXPECT_EQ(nvml.fn<int (*)(Handle)>("nvmlDeviceResetGpuLockedClocks")(gpu1), 0);
    ASSERT_EQ(clock(gpu1, 1, &sm_mhz), 0);
    EXPECT_EQ(sm_mhz, 1980u);

    const auto log_size = nvml.fn<unsigned (*)()>("jp_fake_nvml_set_log_size");
    const auto log_entry = nvml.fn<int (*)(unsigned, char*, unsigned)>("jp_fake_nvml_set_log_entry");
    ASSERT_EQ(log_size(), 3u);
    char entry[128];
    ASSERT_EQ(log_entry(0, entry, sizeof entry), 0);
    EXPECT_STREQ(entry, "nvmlDeviceSetPowerManagementLimit 1 450000");
    ASSERT_EQ(log_entry(1, entry, sizeof entry), 0);
    EXPECT_STREQ(entry, "nvmlDeviceSetGpuLockedClocks 1 900 1500");
    ASSERT_EQ(log_entry(2, entry, sizeof entry), 0);
    EXPECT_STREQ(entry, "nvmlDeviceResetGpuLockedClocks 1");
    EXPECT_EQ(fake.calls("nvmlDeviceSetPowerManagementLimit"), 2u);

    // Injected errors reach set calls too (NO_PERMISSION when not root).
    fake.apply("device 1 error nvmlDeviceSetPowerManagementLimit NO_PERMISSION\n");
    EXPECT_EQ(set_limit(gpu1, 300'000), 4);
    EXPECT_EQ(fake.device_value(1, "power_limit_mw"), 450'000);

    const std::filesystem::path counts =
        std::filesystem::temp_directory_path() / ("jp-fake-nvml-counts-" + std::to_string(::getpid()));
    ASSERT_EQ(nvml.fn<int (*)(const char*)>("jp_fake_nvml_write_counts")(counts.c_str()), 0);
    std::stringstream text;
    text << std::ifstream(counts).rdbuf();
    EXPECT_NE(text.str().find("call nvmlDeviceSetPowerManagementLimit 3\n"), std::string::npos) << text.str();
    EXPECT_NE(text.str().find("set nvmlDeviceSetGpuLockedClocks 1 900 1500\n"), std::string::npos)
        << text.str();
    std::filesystem::remove(counts);
    EXPECT_EQ(nvml.fn<int (*)()>("nvmlShutdown")(), 0);
}

TEST(FakeNvml, RejectsBadDirectivesByLineNumber) {
    FakeNvml fake;
    const auto apply = [&](const char* text) {
        try {
            fake.apply(text);
            return std::string();
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
    };
    EXPECT_EQ(apply("device_count 1\n# comment\ndevice 0 power_mw 5\n"), "");
    EXPECT_NE(apply("device_count 1\ndevice 0 warp_drive 9\n").find("line 2"), std::string::npos);
    EXPECT_NE(apply("error nvmlDeviceGetNothing NOT_SUPPORTED\n").find("line 1"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::sense
