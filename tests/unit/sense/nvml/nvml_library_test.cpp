#include "sense/nvml/nvml_library.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::sense {
namespace {

using testing::FakeNvml;

class EnvGuard {
  public:
    EnvGuard() {
        if (const char* v = std::getenv("JOULEPILOT_NVML_LIBRARY")) m_old = v;
    }
    ~EnvGuard() {
        if (m_old) {
            ::setenv("JOULEPILOT_NVML_LIBRARY", m_old->c_str(), 1);
        } else {
            ::unsetenv("JOULEPILOT_NVML_LIBRARY");
        }
    }

  private:
    std::optional<std::string> m_old;
};

TEST(NvmlLibraryPath, OptionThenEnvironmentThenTheDriverName) {
    EnvGuard guard;
    ::unsetenv("JOULEPILOT_NVML_LIBRARY");
    EXPECT_EQ(resolve_nvml_library_path(""), "libnvidia-ml.so.1");
    ::setenv("JOULEPILOT_NVML_LIBRARY", "", 1);
    EXPECT_EQ(resolve_nvml_library_path(""), "libnvidia-ml.so.1");
    ::setenv("JOULEPILOT_NVML_LIBRARY", "/opt/nvml/libnvidia-ml.so.1", 1);
    EXPECT_EQ(resolve_nvml_library_path(""), "/opt/nvml/libnvidia-ml.so.1");
    EXPECT_EQ(resolve_nvml_library_path("/usr/lib/x/libnvidia-ml.so.1"), "/usr/lib/x/libnvidia-ml.so.1");
}

TEST(NvmlLibrary, MissingFileFailsNamingThePath) {
    const auto library = NvmlLibrary::open("/nonexistent/libnvidia-ml.so.1");
    ASSERT_FALSE(library);
    EXPECT_NE(library.error().message.find("nvml: load /nonexistent/libnvidia-ml.so.1"), std::string::npos)
        << library.error().message;
}

TEST(NvmlLibrary, ResolvesTheNewestVersionOfEachSymbol) {
    FakeNvml fake;
    const auto library = NvmlLibrary::open(fake.path());
    ASSERT_TRUE(library);
    EXPECT_TRUE((*library)->complete());
    const NvmlFunctions& f = (*library)->functions();
    EXPECT_EQ(f.init_symbol, "nvmlInit_v2");
    EXPECT_EQ(f.device_get_count_symbol, "nvmlDeviceGetCount_v2");
    EXPECT_EQ(f.device_get_handle_by_index_symbol, "nvmlDeviceGetHandleByIndex_v2");
    EXPECT_EQ(f.compute_running_processes_symbol, "nvmlDeviceGetComputeRunningProcesses_v3");
    EXPECT_NE(f.device_get_compute_running_processes_v2, nullptr);
    EXPECT_EQ(f.device_get_compute_running_processes_v1, nullptr);
    EXPECT_NE(f.device_get_field_values, nullptr);
    EXPECT_EQ((*library)->error_string(nvml_abi::kErrorGpuIsLost), "GPU is lost");
}

TEST(NvmlLibrary, FallsBackToUnversionedSymbols) {
    FakeNvml fake(testing::kFakeNvmlNoV3);
    const auto library = NvmlLibrary::open(fake.path());
    ASSERT_TRUE(library);
    const NvmlFunctions& f = (*library)->functions();
    EXPECT_EQ(f.init_symbol, "nvmlInit");
    EXPECT_EQ(f.device_get_count_symbol, "nvmlDeviceGetCount");
    EXPECT_EQ(f.device_get_handle_by_index_symbol, "nvmlDeviceGetHandleByIndex");
    EXPECT_EQ(f.compute_running_processes_symbol, "nvmlDeviceGetComputeRunningProcesses");
    EXPECT_EQ(f.device_get_compute_running_processes_v2, nullptr);
    EXPECT_NE(f.device_get_compute_running_processes_v1, nullptr);
}

TEST(NvmlSession, InitialisesOnceAndShutsDownOnDestruction) {
    FakeNvml fake;
    const auto library = NvmlLibrary::open(fake.path());
    ASSERT_TRUE(library);
    {
        const auto session = NvmlSession::open(**library);
        ASSERT_TRUE(session);
        EXPECT_EQ(fake.calls("nvmlInit_v2"), 1u);
    }
    EXPECT_EQ(fake.calls("nvmlShutdown"), 1u);
}

TEST(NvmlSession, FailedInitNamesTheSymbolAndTheReason) {
    FakeNvml fake;
    fake.apply("error nvmlInit NO_PERMISSION\n");
    const auto library = NvmlLibrary::open(fake.path());
    ASSERT_TRUE(library);
    const auto session = NvmlSession::open(**library);
    ASSERT_FALSE(session);
    EXPECT_EQ(session.error().message, "nvml: nvmlInit_v2: Insufficient Permissions");
}

TEST(NvmlStatus, NamesWithoutALibrary) {
    EXPECT_EQ(nvml_status_name(nvml_abi::kErrorNotSupported), "Not Supported");
    EXPECT_EQ(nvml_status_name(nvml_abi::kErrorGpuIsLost), "GPU is lost");
    EXPECT_EQ(nvml_status_name(12345), "Unknown Error");
}

}  // namespace
}  // namespace joulepilot::sense
