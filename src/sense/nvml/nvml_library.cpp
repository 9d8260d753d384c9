#include "sense/nvml/nvml_library.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

namespace joulepilot::sense {

namespace {

// dlsym returns void*; POSIX guarantees that converting it to a function pointer works (C++ makes it
// conditionally-supported, and every compiler for our targets supports it).
template <class Fn>
Fn resolve_first(void* handle, std::initializer_list<const char*> names, std::string* bound = nullptr) {
    for (const char* name : names) {
        if (void* symbol = ::dlsym(handle, name)) {
            if (bound != nullptr) *bound = name;
            return reinterpret_cast<Fn>(symbol);
        }
    }
    return nullptr;
}

}  // namespace

std::string resolve_nvml_library_path(std::string_view configured) {
    if (!configured.empty()) return std::string(configured);
    const std::string env_name(kNvmlLibraryEnv);
    if (const char* from_env = std::getenv(env_name.c_str()); from_env != nullptr && *from_env != '\0') {
        return from_env;
    }
    return std::string(kDefaultNvmlLibrary);
}

core::Result<std::unique_ptr<NvmlLibrary>> NvmlLibrary::open(const std::string& path) {
    // RTLD_LOCAL: NVML's symbols must not leak into the global namespace of the process we live in (the
    // C API is loaded into Python next to other NVML users such as PyTorch).
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return core::fail(fmt::format("nvml: load {}: {}", path, why != nullptr ? why : "unknown error"));
    }
    std::unique_ptr<NvmlLibrary> library(new NvmlLibrary(handle, path));
    NvmlFunctions& f = library->m_functions;

    f.init = resolve_first<nvml_abi::InitFn>(handle, {"nvmlInit_v2", "nvmlInit"}, &f.init_symbol);
    f.shutdown = resolve_first<nvml_abi::ShutdownFn>(handle, {"nvmlShutdown"});
    f.device_get_count = resolve_first<nvml_abi::DeviceGetCountFn>(
        handle, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, &f.device_get_count_symbol);
    f.device_get_handle_by_index = resolve_first<nvml_abi::DeviceGetHandleByIndexFn>(
        handle, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
        &f.device_get_handle_by_index_symbol);

    f.error_string = resolve_first<nvml_abi::ErrorStringFn>(handle, {"nvmlErrorString"});
    f.device_get_name = resolve_first<nvml_abi::DeviceGetStringFn>(handle, {"nvmlDeviceGetName"});
    f.device_get_uuid = resolve_first<nvml_abi::DeviceGetStringFn>(handle, {"nvmlDeviceGetUUID"});
    f.device_get_total_energy_consumption = resolve_first<nvml_abi::DeviceGetTotalEnergyConsumptionFn>(
        handle, {"nvmlDeviceGetTotalEnergyConsumption"});
    f.device_get_power_usage =
        resolve_first<nvml_abi::DeviceGetPowerUsageFn>(handle, {"nvmlDeviceGetPowerUsage"});
    f.device_get_field_values =
        resolve_first<nvml_abi::DeviceGetFieldValuesFn>(handle, {"nvmlDeviceGetFieldValues"});
    f.device_get_utilization_rates =
        resolve_first<nvml_abi::DeviceGetUtilizationRatesFn>(handle, {"nvmlDeviceGetUtilizationRates"});
    f.device_get_temperature =
        resolve_first<nvml_abi::DeviceGetTemperatureFn>(handle, {"nvmlDeviceGetTemperature"});
    f.device_get_clock_info =
        resolve_first<nvml_abi::DeviceGetClockInfoFn>(handle, {"nvmlDeviceGetClockInfo"});
    f.device_get_power_management_limit =
        resolve_first<nvml_abi::DeviceGetPowerLimitFn>(handle, {"nvmlDeviceGetPowerManagementLimit"});
    f.device_get_power_management_limit_constraints =
        resolve_first<nvml_abi::DeviceGetPowerLimitConstraintsFn>(
            handle, {"nvmlDeviceGetPowerManagementLimitConstraints"});
    f.device_get_enforced_power_limit =
        resolve_first<nvml_abi::DeviceGetPowerLimitFn>(handle, {"nvmlDeviceGetEnforcedPowerLimit"});
    f.device_get_mig_mode = resolve_first<nvml_abi::DeviceGetMigModeFn>(handle, {"nvmlDeviceGetMigMode"});
    // _v3 and _v2 fill the same 24-byte record; the unversioned symbol is the old 16-byte one, so it gets a
    // pointer of its own type instead of sharing the slot.
    f.device_get_compute_running_processes_v2 = resolve_first<nvml_abi::DeviceGetRunningProcessesV2Fn>(
        handle, {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"},
        &f.compute_running_processes_symbol);
    if (f.device_get_compute_running_processes_v2 == nullptr) {
        f.device_get_compute_running_processes_v1 = resolve_first<nvml_abi::DeviceGetRunningProcessesV1Fn>(
            handle, {"nvmlDeviceGetComputeRunningProcesses"}, &f.compute_running_processes_symbol);
    }
    f.device_get_process_utilization =
        resolve_first<nvml_abi::DeviceGetProcessUtilizationFn>(handle, {"nvmlDeviceGetProcessUtilization"});

    f.device_get_power_management_default_limit =
        resolve_first<nvml_abi::DeviceGetPowerLimitFn>(handle, {"nvmlDeviceGetPowerManagementDefaultLimit"});
    f.device_set_power_management_limit =
        resolve_first<nvml_abi::DeviceSetPowerLimitFn>(handle, {"nvmlDeviceSetPowerManagementLimit"});
    f.device_get_max_clock_info =
        resolve_first<nvml_abi::DeviceGetClockInfoFn>(handle, {"nvmlDeviceGetMaxClockInfo"});
    f.device_get_supported_memory_clocks = resolve_first<nvml_abi::DeviceGetSupportedMemoryClocksFn>(
        handle, {"nvmlDeviceGetSupportedMemoryClocks"});
    f.device_get_supported_graphics_clocks = resolve_first<nvml_abi::DeviceGetSupportedGraphicsClocksFn>(
        handle, {"nvmlDeviceGetSupportedGraphicsClocks"});
    f.device_set_gpu_locked_clocks =
        resolve_first<nvml_abi::DeviceSetGpuLockedClocksFn>(handle, {"nvmlDeviceSetGpuLockedClocks"});
    f.device_reset_gpu_locked_clocks =
        resolve_first<nvml_abi::DeviceResetGpuLockedClocksFn>(handle, {"nvmlDeviceResetGpuLockedClocks"});
    return library;
}

bool NvmlLibrary::complete() const {
    return m_functions.init != nullptr && m_functions.shutdown != nullptr &&
           m_functions.device_get_count != nullptr && m_functions.device_get_handle_by_index != nullptr;
}

NvmlLibrary::~NvmlLibrary() {
    if (m_handle != nullptr) ::dlclose(m_handle);
}

std::string NvmlLibrary::error_string(nvml_abi::Return status) const {
    if (m_functions.error_string != nullptr) {
        if (const char* text = m_functions.error_string(status); text != nullptr) return text;
    }
    return std::string(nvml_status_name(status));
}

core::Result<std::unique_ptr<NvmlSession>> NvmlSession::open(const NvmlLibrary& library) {
    if (!library.complete()) {
        return core::fail(
            fmt::format("nvml: {}: not an NVML library (nvmlInit, nvmlShutdown, nvmlDeviceGetCount "
                        "or nvmlDeviceGetHandleByIndex missing)",
                        library.path()));
    }
    const nvml_abi::Return status = library.functions().init();
    if (status != nvml_abi::kSuccess) {
        return core::fail(
            fmt::format("nvml: {}: {}", library.functions().init_symbol, library.error_string(status)));
    }
    return std::unique_ptr<NvmlSession>(new NvmlSession(library));
}

NvmlSession::~NvmlSession() {
    // The status is not actionable here: the process is letting go of the GPU either way.
    static_cast<void>(m_library.functions().shutdown());
}

std::string_view nvml_status_name(nvml_abi::Return status) {
    switch (status) {
        case nvml_abi::kSuccess:
            return "Success";
        case nvml_abi::kErrorUninitialized:
            return "Uninitialized";
        case nvml_abi::kErrorInvalidArgument:
            return "Invalid Argument";
        case nvml_abi::kErrorNotSupported:
            return "Not Supported";
        case nvml_abi::kErrorNoPermission:
            return "Insufficient Permissions";
        case nvml_abi::kErrorNotFound:
            return "Not Found";
        case nvml_abi::kErrorInsufficientSize:
            return "Insufficient Size";
        case nvml_abi::kErrorDriverNotLoaded:
            return "Driver Not Loaded";
        case nvml_abi::kErrorFunctionNotFound:
            return "Function Not Found";
        case nvml_abi::kErrorGpuIsLost:
            return "GPU is lost";
        default:
            return "Unknown Error";
    }
}

}  // namespace joulepilot::sense
