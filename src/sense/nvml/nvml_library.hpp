#pragma once
// NvmlLibrary: libnvidia-ml loaded with dlopen at run time and its entry points resolved with dlsym, newest
// symbol version first (_v3 -> _v2 -> unversioned). NvmlSession: one nvmlInit/nvmlShutdown pair.
//
// Both are RAII owners: the dlopen handle is closed when the library is destroyed, and nvmlShutdown runs
// when the session is destroyed (a session must not outlive its library: NvmlSession keeps a reference).
// Neither is copyable; both are movable only through unique_ptr by their owner (NvmlSensor).
//
// Thread-safety: NVML itself is thread-safe; these objects are immutable after construction, so reading
// the function table from several threads is fine. Construction and destruction belong to one thread.

#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "sense/nvml/nvml_abi.hpp"

namespace joulepilot::sense {

// The file name the NVIDIA driver installs (the unversioned .so is only in the CUDA toolkit).
inline constexpr std::string_view kDefaultNvmlLibrary = "libnvidia-ml.so.1";
// Environment variable that names another library (a test fake, a driver in a non-standard place).
inline constexpr std::string_view kNvmlLibraryEnv = "JOULEPILOT_NVML_LIBRARY";

// The path to load: `configured` when not empty, else $JOULEPILOT_NVML_LIBRARY when set and not empty,
// else the driver's default name (found through the dynamic loader's search path).
std::string resolve_nvml_library_path(std::string_view configured);

// Entry points we use. Required ones are never null in a loaded library; optional ones are null when the
// library is too old to have them (their signals are then absent). Which symbol was bound is kept for
// diagnostics and tests.
struct NvmlFunctions {
    // Required.
    nvml_abi::InitFn init = nullptr;
    nvml_abi::ShutdownFn shutdown = nullptr;
    nvml_abi::DeviceGetCountFn device_get_count = nullptr;
    nvml_abi::DeviceGetHandleByIndexFn device_get_handle_by_index = nullptr;
    // Optional.
    nvml_abi::ErrorStringFn error_string = nullptr;
    nvml_abi::DeviceGetStringFn device_get_name = nullptr;
    nvml_abi::DeviceGetStringFn device_get_uuid = nullptr;
    nvml_abi::DeviceGetTotalEnergyConsumptionFn device_get_total_energy_consumption = nullptr;
    nvml_abi::DeviceGetPowerUsageFn device_get_power_usage = nullptr;
    nvml_abi::DeviceGetFieldValuesFn device_get_field_values = nullptr;
    nvml_abi::DeviceGetUtilizationRatesFn device_get_utilization_rates = nullptr;
    nvml_abi::DeviceGetTemperatureFn device_get_temperature = nullptr;
    nvml_abi::DeviceGetClockInfoFn device_get_clock_info = nullptr;
    nvml_abi::DeviceGetPowerLimitFn device_get_power_management_limit = nullptr;
    nvml_abi::DeviceGetPowerLimitConstraintsFn device_get_power_management_limit_constraints = nullptr;
    nvml_abi::DeviceGetPowerLimitFn device_get_enforced_power_limit = nullptr;
    nvml_abi::DeviceGetMigModeFn device_get_mig_mode = nullptr;
    // At most one of the two is set: _v3 and _v2 share the 24-byte layout, the unversioned one is v1.
    nvml_abi::DeviceGetRunningProcessesV2Fn device_get_compute_running_processes_v2 = nullptr;
    nvml_abi::DeviceGetRunningProcessesV1Fn device_get_compute_running_processes_v1 = nullptr;
    nvml_abi::DeviceGetProcessUtilizationFn device_get_process_utilization = nullptr;
    // Optional, for the actuators (act/nvml): a library without them offers no GPU knobs.
    nvml_abi::DeviceGetPowerLimitFn device_get_power_management_default_limit = nullptr;
    nvml_abi::DeviceSetPowerLimitFn device_set_power_management_limit = nullptr;
    nvml_abi::DeviceGetClockInfoFn device_get_max_clock_info = nullptr;  // MHz
    nvml_abi::DeviceGetSupportedMemoryClocksFn device_get_supported_memory_clocks = nullptr;
    nvml_abi::DeviceGetSupportedGraphicsClocksFn device_get_supported_graphics_clocks = nullptr;
    nvml_abi::DeviceSetGpuLockedClocksFn device_set_gpu_locked_clocks = nullptr;
    nvml_abi::DeviceResetGpuLockedClocksFn device_reset_gpu_locked_clocks = nullptr;

    // The symbol names bound for the versioned entry points ("nvmlInit_v2", "nvmlDeviceGetCount", ...).
    std::string init_symbol;
    std::string device_get_count_symbol;
    std::string device_get_handle_by_index_symbol;
    std::string compute_running_processes_symbol;  // empty when none
};

class NvmlLibrary {
public:
    // Loads `path` (a file name is searched like any shared library) and resolves what it offers. Fails,
    // with a message naming the path and dlerror(), only when the file is missing or cannot be loaded.
    static core::Result<std::unique_ptr<NvmlLibrary>> open(const std::string& path);

    ~NvmlLibrary();
    NvmlLibrary(const NvmlLibrary&) = delete;
    NvmlLibrary& operator=(const NvmlLibrary&) = delete;

    // False when a required entry point is missing: then it is not an NVML library we can use.
    [[nodiscard]] bool complete() const;
    [[nodiscard]] const NvmlFunctions& functions() const { return m_functions; }
    [[nodiscard]] const std::string& path() const { return m_path; }
    // NVML's own text for a status ("Not Supported"), or ours when the library has no nvmlErrorString.
    [[nodiscard]] std::string error_string(nvml_abi::Return status) const;

private:
    NvmlLibrary(void* handle, std::string path) : m_handle(handle), m_path(std::move(path)) {}

    void* m_handle = nullptr;  // from dlopen; closed in the destructor
    std::string m_path;
    NvmlFunctions m_functions;
};

// One initialised NVML session: nvmlInit on construction (through open), nvmlShutdown on destruction.
class NvmlSession {
public:
    static core::Result<std::unique_ptr<NvmlSession>> open(const NvmlLibrary& library);

    ~NvmlSession();
    NvmlSession(const NvmlSession&) = delete;
    NvmlSession& operator=(const NvmlSession&) = delete;

private:
    explicit NvmlSession(const NvmlLibrary& library) : m_library(library) {}

    const NvmlLibrary& m_library;
};

// A name for an NVML status that needs no library ("GPU is lost"), for messages.
std::string_view nvml_status_name(nvml_abi::Return status);

}  // namespace joulepilot::sense
