// A fake libnvidia-ml: a shared library exporting the NVML entry points joulepilot calls (and the ones
// the actuators will call), with behaviour driven by a small text state, so the GPU paths run in tests on
// machines without a GPU. It is loaded exactly like the real library (dlopen + dlsym), so the ABI -- symbol
// names, struct layouts, return codes -- is what is under test, not a mock of our own wrapper.
//
// The NVML declarations below are the fake's own, written from NVML's reference independently of
// src/sense/nvml/nvml_abi.hpp, so a layout mistake on one side shows up as a failing test.
//
// State. `nvmlInit*` (first reference) loads the file named by $JOULEPILOT_FAKE_NVML_STATE when set;
// tests in the same process change it with jp_fake_nvml_apply(). Directives, one per line, `#` comments:
//   device_count N                       N devices with defaults (indices 0..N-1)
//   error FUNCTION CODE [TIMES]          FUNCTION (unversioned name) returns CODE on every device, TIMES
//                                        times or forever; CODE is a name (NOT_SUPPORTED, GPU_IS_LOST, ...)
//                                        or a number; SUCCESS clears it
//   device I|all KEY VALUE...            per device: name TEXT | uuid TEXT | energy_mj N | energy_step_mj N
//                                        | power_mw N | power_instant_mw N|none | util_gpu N | util_memory N
//                                        | temperature_c N | clock_sm_mhz N | clock_mem_mhz N
//                                        | power_limit_mw N | enforced_power_limit_mw N|follow
//                                        | power_limit_min_mw N | power_limit_max_mw N
//                                        | default_power_limit_mw N | mig_mode 0|1 | mig_instances N
//                                        | sm_clocks_mhz MIN MAX STEP (supported SM clocks, at the one
//                                          supported memory clock clock_mem_mhz; default 210 1980 15)
//                                        | lost_after_calls N (this device answers GPU_IS_LOST once it has
//                                          taken N more calls) | lost | error FUNCTION CODE [TIMES]
//                                        | process PID USED_BYTES SM_PERCENT MEM_PERCENT [GI CI]
//                                        | clear_processes
// Energy: each nvmlDeviceGetTotalEnergyConsumption returns energy_mj, then adds energy_step_mj.
// MIG (mig_mode 1): utilisation and per-process utilisation answer NOT_SUPPORTED, as on real parts.
//
// Set calls behave like the driver's: nvmlDeviceSetPowerManagementLimit outside the device's constraints and
// nvmlDeviceSetGpuLockedClocks outside the supported SM clocks (or min > max) answer INVALID_ARGUMENT and
// change nothing; injected errors (NO_PERMISSION, NOT_SUPPORTED, GPU_IS_LOST) come first.
//
// Observation. Every exported NVML call is counted by its exact symbol name (nvmlInit_v2 and nvmlInit
// apart). Successful set calls (power limit, locked clocks, reset) are logged, in order, as
// "SYMBOL DEVICE VALUES..." (limit in mW, clocks in MHz). When the last
// nvmlShutdown runs and $JOULEPILOT_FAKE_NVML_COUNTS is set, counts and log are written there as
// "call SYMBOL N" and "set SYMBOL DEVICE VALUES..." lines. The jp_fake_nvml_* functions at the end give
// tests the same in process.
//
// Built three times: libnvidia-ml-fake.so with every symbol, libnvidia-ml-fake-nov3.so with
// JP_FAKE_NVML_NO_VERSIONED: no _v2/_v3 symbols, like a driver from before they existed, and
// libnvidia-ml-fake-noact.so with JP_FAKE_NVML_NO_ACTUATION: none of the set, default-limit and clock-list
// entry points (a library that can be read but offers no knobs).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

// ---- The fake's own NVML declarations -------------------------------------------------------------------

typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

struct nvmlDevice_st;
typedef nvmlDevice_st* nvmlDevice_t;

typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_v2_t;

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    signed long long sllVal;
    signed int siVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

namespace {

constexpr unsigned kFieldPowerInstant = 186;
constexpr int kValueTypeUnsignedInt = 1;
constexpr unsigned kNoInstance = 0xFFFFFFFFU;
constexpr std::size_t kMaxDevices = 64;
constexpr std::size_t kMaxMigInstances = 7;

// Every exported NVML symbol; `base` names the function for error injection (versions share errors).
enum Symbol : std::size_t {
    kInit,
    kInitV2,
    kShutdown,
    kErrorString,
    kGetCount,
    kGetCountV2,
    kGetHandleByIndex,
    kGetHandleByIndexV2,
    kGetName,
    kGetUuid,
    kGetTotalEnergyConsumption,
    kGetPowerUsage,
    kGetFieldValues,
    kGetUtilizationRates,
    kGetTemperature,
    kGetClockInfo,
    kGetMaxClockInfo,
    kGetSupportedMemoryClocks,
    kGetSupportedGraphicsClocks,
    kGetPowerManagementLimit,
    kGetPowerManagementLimitConstraints,
    kGetPowerManagementDefaultLimit,
    kGetEnforcedPowerLimit,
    kGetMigMode,
    kGetMaxMigDeviceCount,
    kGetMigDeviceHandleByIndex,
    kGetComputeRunningProcesses,
    kGetComputeRunningProcessesV2,
    kGetComputeRunningProcessesV3,
    kGetProcessUtilization,
    kSetPowerManagementLimit,
    kSetGpuLockedClocks,
    kResetGpuLockedClocks,
    kSymbolCount
};

struct SymbolName {
    const char* name;
    Symbol base;
};

constexpr std::array<SymbolName, kSymbolCount> kSymbols{{
    {"nvmlInit", kInit},
    {"nvmlInit_v2", kInit},
    {"nvmlShutdown", kShutdown},
    {"nvmlErrorString", kErrorString},
    {"nvmlDeviceGetCount", kGetCount},
    {"nvmlDeviceGetCount_v2", kGetCount},
    {"nvmlDeviceGetHandleByIndex", kGetHandleByIndex},
    {"nvmlDeviceGetHandleByIndex_v2", kGetHandleByIndex},
    {"nvmlDeviceGetName", kGetName},
    {"nvmlDeviceGetUUID", kGetUuid},
    {"nvmlDeviceGetTotalEnergyConsumption", kGetTotalEnergyConsumption},
    {"nvmlDeviceGetPowerUsage", kGetPowerUsage},
    {"nvmlDeviceGetFieldValues", kGetFieldValues},
    {"nvmlDeviceGetUtilizationRates", kGetUtilizationRates},
    {"nvmlDeviceGetTemperature", kGetTemperature},
    {"nvmlDeviceGetClockInfo", kGetClockInfo},
    {"nvmlDeviceGetMaxClockInfo", kGetMaxClockInfo},
    {"nvmlDeviceGetSupportedMemoryClocks", kGetSupportedMemoryClocks},
    {"nvmlDeviceGetSupportedGraphicsClocks", kGetSupportedGraphicsClocks},
    {"nvmlDeviceGetPowerManagementLimit", kGetPowerManagementLimit},
    {"nvmlDeviceGetPowerManagementLimitConstraints", kGetPowerManagementLimitConstraints},
    {"nvmlDeviceGetPowerManagementDefaultLimit", kGetPowerManagementDefaultLimit},
    {"nvmlDeviceGetEnforcedPowerLimit", kGetEnforcedPowerLimit},
    {"nvmlDeviceGetMigMode", kGetMigMode},
    {"nvmlDeviceGetMaxMigDeviceCount", kGetMaxMigDeviceCount},
    {"nvmlDeviceGetMigDeviceHandleByIndex", kGetMigDeviceHandleByIndex},
    {"nvmlDeviceGetComputeRunningProcesses", kGetComputeRunningProcesses},
    {"nvmlDeviceGetComputeRunningProcesses_v2", kGetComputeRunningProcesses},
    {"nvmlDeviceGetComputeRunningProcesses_v3", kGetComputeRunningProcesses},
    {"nvmlDeviceGetProcessUtilization", kGetProcessUtilization},
    {"nvmlDeviceSetPowerManagementLimit", kSetPowerManagementLimit},
    {"nvmlDeviceSetGpuLockedClocks", kSetGpuLockedClocks},
    {"nvmlDeviceResetGpuLockedClocks", kResetGpuLockedClocks},
}};

struct InjectedError {
    int code = NVML_SUCCESS;
    long long remaining = -1;  // -1: forever
};

struct Process {
    unsigned pid = 0;
    unsigned long long used_bytes = 0;
    unsigned sm_percent = 0;
    unsigned mem_percent = 0;
    unsigned gpu_instance = kNoInstance;
    unsigned compute_instance = kNoInstance;
};

struct Device {
    std::string name;
    std::string uuid;
    unsigned long long energy_mj = 0;
    unsigned long long energy_step_mj = 0;
    unsigned power_mw = 0;
    std::optional<unsigned> power_instant_mw;
    unsigned util_gpu = 0;
    unsigned util_memory = 0;
    unsigned temperature_c = 0;
    unsigned clock_sm_mhz = 0;
    unsigned clock_mem_mhz = 0;
    unsigned power_limit_mw = 0;
    std::optional<unsigned> enforced_power_limit_mw;  // empty: follows power_limit_mw
    unsigned power_limit_min_mw = 0;
    unsigned power_limit_max_mw = 0;
    unsigned default_power_limit_mw = 0;
    unsigned sm_clock_min_mhz = 210;  // supported SM clocks: min..max in steps of step
    unsigned sm_clock_max_mhz = 1980;
    unsigned sm_clock_step_mhz = 15;
    unsigned locked_sm_min_mhz = 0;  // 0: not locked
    unsigned locked_sm_max_mhz = 0;
    unsigned mig_mode = 0;
    unsigned mig_instances = 0;
    unsigned long long calls = 0;
    std::optional<unsigned long long> lost_at_call;  // answers GPU_IS_LOST once calls reach this
    std::array<InjectedError, kSymbolCount> errors{};
    std::vector<Process> processes;
    unsigned long long sample_clock_us = 1'700'000'000'000'000ULL;  // per-process sample time stamps
};

// A MIG instance handle: only to be counted; NVML calls on it answer NOT_SUPPORTED in this fake.
struct MigInstance {
    unsigned parent = 0;
    unsigned index = 0;
};

struct State {
    std::mutex mutex;
    unsigned init_refs = 0;
    unsigned device_count = 0;
    std::array<Device, kMaxDevices> devices;
    std::array<MigInstance, kMaxDevices * kMaxMigInstances> mig_instances;
    std::array<InjectedError, kSymbolCount> errors{};
    std::array<unsigned long long, kSymbolCount> calls{};
    std::vector<std::string> set_log;
};

State& state() {
    static State s;
    return s;
}

Device default_device(unsigned index) {
    Device d;
    d.name = "NVIDIA H100 80GB HBM3";
    char uuid[64];
    std::snprintf(uuid, sizeof uuid, "GPU-fa4e0000-0000-0000-0000-%012u", index);
    d.uuid = uuid;
    d.energy_mj = 1'000'000ULL * (index + 1);
    d.power_mw = 300'000;
    d.power_instant_mw = 310'000;
    d.util_gpu = 50;
    d.util_memory = 20;
    d.temperature_c = 45;
    d.clock_sm_mhz = 1980;
    d.clock_mem_mhz = 2619;
    d.power_limit_mw = 700'000;
    d.power_limit_min_mw = 200'000;
    d.power_limit_max_mw = 700'000;
    d.default_power_limit_mw = 700'000;
    return d;
}

void reset_devices(State& s) {
    s.device_count = 0;
    s.errors = {};
    for (std::size_t i = 0; i < kMaxDevices; ++i) s.devices[i] = default_device(static_cast<unsigned>(i));
}

std::optional<int> parse_code(const std::string& text) {
    static constexpr std::pair<std::string_view, int> kCodes[] = {
        {"SUCCESS", NVML_SUCCESS},
        {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED},
        {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT},
        {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED},
        {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION},
        {"NOT_FOUND", NVML_ERROR_NOT_FOUND},
        {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE},
        {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED},
        {"TIMEOUT", NVML_ERROR_TIMEOUT},
        {"FUNCTION_NOT_FOUND", NVML_ERROR_FUNCTION_NOT_FOUND},
        {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST},
        {"UNKNOWN", NVML_ERROR_UNKNOWN},
    };
    for (const auto& [name, code] : kCodes) {
        if (text == name) return code;
    }
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (end != text.c_str() && *end == '\0') return static_cast<int>(value);
    return std::nullopt;
}

std::optional<Symbol> parse_function(const std::string& text) {
    for (std::size_t i = 0; i < kSymbolCount; ++i) {
        if (text == kSymbols[i].name) return kSymbols[i].base;
    }
    return std::nullopt;
}

bool parse_error(std::istringstream& in, std::array<InjectedError, kSymbolCount>& errors) {
    std::string function;
    std::string code_text;
    if (!(in >> function >> code_text)) return false;
    const auto symbol = parse_function(function);
    const auto code = parse_code(code_text);
    if (!symbol || !code) return false;
    long long times = -1;
    if (!(in >> times)) times = -1;
    errors[*symbol] = InjectedError{*code, times};
    return true;
}

bool apply_device_key(Device& d, const std::string& key, std::istringstream& in) {
    const auto number = [&](auto& field) {
        unsigned long long value = 0;
        if (!(in >> value)) return false;
        field = static_cast<std::remove_reference_t<decltype(field)>>(value);
        return true;
    };
    if (key == "name" || key == "uuid") {
        std::string rest;
        std::getline(in >> std::ws, rest);
        (key == "name" ? d.name : d.uuid) = rest;
        return true;
    }
    if (key == "energy_mj") return number(d.energy_mj);
    if (key == "energy_step_mj") return number(d.energy_step_mj);
    if (key == "power_mw") return number(d.power_mw);
    if (key == "power_instant_mw") {
        std::string value;
        if (!(in >> value)) return false;
        if (value == "none") {
            d.power_instant_mw.reset();
        } else {
            d.power_instant_mw = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        }
        return true;
    }
    if (key == "sm_clocks_mhz") {
        unsigned min = 0;
        unsigned max = 0;
        unsigned step = 0;
        if (!(in >> min >> max >> step) || min == 0 || min > max || step == 0) return false;
        d.sm_clock_min_mhz = min;
        d.sm_clock_max_mhz = max;
        d.sm_clock_step_mhz = step;
        return true;
    }
    if (key == "util_gpu") return number(d.util_gpu);
    if (key == "util_memory") return number(d.util_memory);
    if (key == "temperature_c") return number(d.temperature_c);
    if (key == "clock_sm_mhz") return number(d.clock_sm_mhz);
    if (key == "clock_mem_mhz") return number(d.clock_mem_mhz);
    if (key == "power_limit_mw") return number(d.power_limit_mw);
    if (key == "enforced_power_limit_mw") {
        std::string value;
        if (!(in >> value)) return false;
        if (value == "follow") {
            d.enforced_power_limit_mw.reset();
        } else {
            d.enforced_power_limit_mw = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        }
        return true;
    }
    if (key == "power_limit_min_mw") return number(d.power_limit_min_mw);
    if (key == "power_limit_max_mw") return number(d.power_limit_max_mw);
    if (key == "default_power_limit_mw") return number(d.default_power_limit_mw);
    if (key == "mig_mode") return number(d.mig_mode);
    if (key == "mig_instances") return number(d.mig_instances) && d.mig_instances <= kMaxMigInstances;
    if (key == "lost_after_calls") {
        unsigned long long n = 0;
        if (!(in >> n)) return false;
        d.lost_at_call = d.calls + n;
        return true;
    }
    if (key == "lost") {
        d.lost_at_call = d.calls;
        return true;
    }
    if (key == "error") return parse_error(in, d.errors);
    if (key == "process") {
        Process p;
        if (!(in >> p.pid >> p.used_bytes >> p.sm_percent >> p.mem_percent)) return false;
        if (!(in >> p.gpu_instance >> p.compute_instance)) {
            p.gpu_instance = kNoInstance;
            p.compute_instance = kNoInstance;
        }
        d.processes.push_back(p);
        return true;
    }
    if (key == "clear_processes") {
        d.processes.clear();
        return true;
    }
    return false;
}

// Applies directives; returns 0, or the 1-based number of the first line it could not apply.
int apply_directives(State& s, std::string_view text) {
    std::istringstream lines{std::string(text)};
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
        ++number;
        if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream in(line);
        std::string word;
        if (!(in >> word)) continue;
        bool ok = false;
        if (word == "device_count") {
            unsigned n = 0;
            ok = static_cast<bool>(in >> n) && n <= kMaxDevices;
            if (ok) s.device_count = n;
        } else if (word == "error") {
            ok = parse_error(in, s.errors);
        } else if (word == "device") {
            std::string which;
            std::string key;
            if (in >> which >> key) {
                const std::streampos rest = in.tellg();
                if (which == "all") {
                    ok = true;
                    for (unsigned i = 0; i < s.device_count && ok; ++i) {
                        in.clear();
                        in.seekg(rest);
                        ok = apply_device_key(s.devices[i], key, in);
                    }
                } else {
                    char* end = nullptr;
                    const unsigned long index = std::strtoul(which.c_str(), &end, 10);
                    ok = *end == '\0' && index < kMaxDevices && apply_device_key(s.devices[index], key, in);
                }
            }
        }
        if (!ok) return number;
    }
    return 0;
}

int load_file(State& s, const char* path) {
    std::ifstream file(path);
    if (!file) return -1;
    std::stringstream text;
    text << file.rdbuf();
    reset_devices(s);
    return apply_directives(s, text.str());
}

int write_counts(const State& s, const char* path) {
    std::ofstream out(path);
    if (!out) return -1;
    for (std::size_t i = 0; i < kSymbolCount; ++i) {
        if (s.calls[i] != 0) out << "call " << kSymbols[i].name << ' ' << s.calls[i] << '\n';
    }
    for (const std::string& entry : s.set_log) out << "set " << entry << '\n';
    return out ? 0 : -1;
}

// Takes a consumable injected error, if one is set for `base`.
std::optional<int> take_error(InjectedError& error) {
    if (error.code == NVML_SUCCESS || error.remaining == 0) return std::nullopt;
    if (error.remaining > 0) --error.remaining;
    return error.code;
}

// Common entry for calls that take no device.
nvmlReturn_t enter(State& s, Symbol symbol) {
    ++s.calls[symbol];
    if (auto code = take_error(s.errors[kSymbols[symbol].base])) return static_cast<nvmlReturn_t>(*code);
    if (symbol != kInit && symbol != kInitV2 && symbol != kErrorString && s.init_refs == 0) {
        return NVML_ERROR_UNINITIALIZED;
    }
    return NVML_SUCCESS;
}

// Common entry for device calls: counts, checks the handle, the lost state and injected errors.
nvmlReturn_t enter(State& s, Symbol symbol, nvmlDevice_t handle, Device*& device) {
    ++s.calls[symbol];
    if (s.init_refs == 0) return NVML_ERROR_UNINITIALIZED;
    const auto* raw = reinterpret_cast<const Device*>(handle);
    if (raw < s.devices.data() || raw >= s.devices.data() + s.device_count) {
        // A MIG instance handle (or garbage): the fake supports nothing on instances.
        const auto* mig = reinterpret_cast<const MigInstance*>(handle);
        const bool is_mig =
            mig >= s.mig_instances.data() && mig < s.mig_instances.data() + s.mig_instances.size();
        return is_mig ? NVML_ERROR_NOT_SUPPORTED : NVML_ERROR_INVALID_ARGUMENT;
    }
    device = &s.devices[static_cast<std::size_t>(raw - s.devices.data())];
    ++device->calls;
    if (device->lost_at_call && device->calls > *device->lost_at_call) return NVML_ERROR_GPU_IS_LOST;
    const Symbol base = kSymbols[symbol].base;
    if (auto code = take_error(device->errors[base])) return static_cast<nvmlReturn_t>(*code);
    if (auto code = take_error(s.errors[base])) return static_cast<nvmlReturn_t>(*code);
    return NVML_SUCCESS;
}

nvmlReturn_t do_init(Symbol symbol) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (const nvmlReturn_t status = enter(s, symbol); status != NVML_SUCCESS) return status;
    if (s.init_refs == 0) {
        if (const char* path = std::getenv("JOULEPILOT_FAKE_NVML_STATE"); path != nullptr && *path != '\0') {
            if (load_file(s, path) != 0) {
                std::fprintf(stderr, "fake nvml: cannot apply state file %s\n", path);
                return NVML_ERROR_UNKNOWN;
            }
        }
    }
    ++s.init_refs;
    return NVML_SUCCESS;
}

nvmlReturn_t do_get_count(Symbol symbol, unsigned* count) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (const nvmlReturn_t status = enter(s, symbol); status != NVML_SUCCESS) return status;
    if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
    *count = s.device_count;
    return NVML_SUCCESS;
}

nvmlReturn_t do_get_handle(Symbol symbol, unsigned index, nvmlDevice_t* device) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (const nvmlReturn_t status = enter(s, symbol); status != NVML_SUCCESS) return status;
    if (device == nullptr || index >= s.device_count) return NVML_ERROR_INVALID_ARGUMENT;
    if (auto code = take_error(s.devices[index].errors[kGetHandleByIndex]))
        return static_cast<nvmlReturn_t>(*code);
    *device = reinterpret_cast<nvmlDevice_t>(&s.devices[index]);
    return NVML_SUCCESS;
}

template <class Info>
nvmlReturn_t do_running_processes(Symbol symbol, nvmlDevice_t handle, unsigned* count, Info* infos) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    Device* d = nullptr;
    if (const nvmlReturn_t status = enter(s, symbol, handle, d); status != NVML_SUCCESS) return status;
    if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
    const auto n = static_cast<unsigned>(d->processes.size());
    if (infos == nullptr || *count < n) {
        const bool enough = n == 0;
        *count = n;
        return enough ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < n; ++i) {
        const Process& p = d->processes[i];
        Info info{};
        info.pid = p.pid;
        info.usedGpuMemory = p.used_bytes;
        if constexpr (sizeof(Info) == sizeof(nvmlProcessInfo_v2_t)) {
            info.gpuInstanceId = d->mig_mode == 1 ? p.gpu_instance : kNoInstance;
            info.computeInstanceId = d->mig_mode == 1 ? p.compute_instance : kNoInstance;
        }
        infos[i] = info;
    }
    *count = n;
    return NVML_SUCCESS;
}

// Guarded device call: takes the lock, enters, and runs `body` on the device when all is well.
template <class Body>
nvmlReturn_t device_call(Symbol symbol, nvmlDevice_t handle, Body&& body) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    Device* d = nullptr;
    if (const nvmlReturn_t status = enter(s, symbol, handle, d); status != NVML_SUCCESS) return status;
    return body(s, *d);
}

unsigned index_of(const State& s, const Device& d) { return static_cast<unsigned>(&d - s.devices.data()); }

}  // namespace

static_assert(sizeof(nvmlProcessInfo_v1_t) == 16 && sizeof(nvmlProcessInfo_v2_t) == 24);
static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32 && sizeof(nvmlFieldValue_t) == 40);

// ---- Exported NVML entry points ---------------------------------------------------------------------------

FAKE_EXPORT nvmlReturn_t nvmlInit() { return do_init(kInit); }
#ifndef JP_FAKE_NVML_NO_VERSIONED
FAKE_EXPORT nvmlReturn_t nvmlInit_v2() { return do_init(kInitV2); }
#endif

FAKE_EXPORT nvmlReturn_t nvmlShutdown() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (const nvmlReturn_t status = enter(s, kShutdown); status != NVML_SUCCESS) return status;
    if (--s.init_refs == 0) {
        if (const char* path = std::getenv("JOULEPILOT_FAKE_NVML_COUNTS"); path != nullptr && *path != '\0') {
            write_counts(s, path);
        }
    }
    return NVML_SUCCESS;
}

FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
    {
        State& s = state();
        std::lock_guard lock(s.mutex);
        ++s.calls[kErrorString];
    }
    switch (result) {
        case NVML_SUCCESS:
            return "Success";
        case NVML_ERROR_NOT_SUPPORTED:
            return "Not Supported";
        case NVML_ERROR_NO_PERMISSION:
            return "Insufficient Permissions";
        case NVML_ERROR_DRIVER_NOT_LOADED:
            return "Driver Not Loaded";
        case NVML_ERROR_GPU_IS_LOST:
            return "GPU is lost";
        default:
            return "Unknown Error (fake)";
    }
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned* count) { return do_get_count(kGetCount, count); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned index, nvmlDevice_t* device) {
    return do_get_handle(kGetHandleByIndex, index, device);
}
#ifndef JP_FAKE_NVML_NO_VERSIONED
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) { return do_get_count(kGetCountV2, count); }
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
    return do_get_handle(kGetHandleByIndexV2, index, device);
}
#endif

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned length) {
    return device_call(kGetName, device, [&](State&, Device& d) {
        if (name == nullptr || length <= d.name.size()) return NVML_ERROR_INSUFFICIENT_SIZE;
        std::memcpy(name, d.name.c_str(), d.name.size() + 1);
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned length) {
    return device_call(kGetUuid, device, [&](State&, Device& d) {
        if (uuid == nullptr || length <= d.uuid.size()) return NVML_ERROR_INSUFFICIENT_SIZE;
        std::memcpy(uuid, d.uuid.c_str(), d.uuid.size() + 1);
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                             unsigned long long* energy) {
    return device_call(kGetTotalEnergyConsumption, device, [&](State&, Device& d) {
        if (energy == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *energy = d.energy_mj;
        d.energy_mj += d.energy_step_mj;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned* power) {
    return device_call(kGetPowerUsage, device, [&](State&, Device& d) {
        if (power == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *power = d.power_mw;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t* values) {
    return device_call(kGetFieldValues, device, [&](State&, Device& d) {
        if (values == nullptr || count < 0) return NVML_ERROR_INVALID_ARGUMENT;
        for (int i = 0; i < count; ++i) {
            nvmlFieldValue_t& v = values[i];
            v.timestamp = 0;
            v.latencyUsec = 0;
            if (v.fieldId == kFieldPowerInstant && d.power_instant_mw) {
                v.valueType = kValueTypeUnsignedInt;
                v.value.uiVal = *d.power_instant_mw;
                v.nvmlReturn = NVML_SUCCESS;
            } else {
                v.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            }
        }
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* utilization) {
    return device_call(kGetUtilizationRates, device, [&](State&, Device& d) {
        if (utilization == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig_mode == 1) return NVML_ERROR_NOT_SUPPORTED;
        utilization->gpu = d.util_gpu;
        utilization->memory = d.util_memory;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned* temp) {
    return device_call(kGetTemperature, device, [&](State&, Device& d) {
        if (temp == nullptr || sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
        *temp = d.temperature_c;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned* clock) {
    return device_call(kGetClockInfo, device, [&](State&, Device& d) {
        if (clock == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (type == 0 || type == 1) {  // graphics, SM: honour locked clocks
            unsigned mhz = d.clock_sm_mhz;
            if (d.locked_sm_max_mhz != 0) mhz = std::clamp(mhz, d.locked_sm_min_mhz, d.locked_sm_max_mhz);
            *clock = mhz;
        } else if (type == 2) {
            *clock = d.clock_mem_mhz;
        } else {
            return NVML_ERROR_NOT_SUPPORTED;
        }
        return NVML_SUCCESS;
    });
}

#ifndef JP_FAKE_NVML_NO_ACTUATION
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned* clock) {
    return device_call(kGetMaxClockInfo, device, [&](State&, Device& d) {
        if (clock == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (type == 0 || type == 1) {
            *clock = d.sm_clock_max_mhz;
        } else if (type == 2) {
            *clock = d.clock_mem_mhz;
        } else {
            return NVML_ERROR_NOT_SUPPORTED;
        }
        return NVML_SUCCESS;
    });
}

// The board supports one memory clock here (as H100s report); count/array protocol as NVML's: a short array
// gets INSUFFICIENT_SIZE and the needed count.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSupportedMemoryClocks(nvmlDevice_t device, unsigned* count,
                                                            unsigned* clocks) {
    return device_call(kGetSupportedMemoryClocks, device, [&](State&, Device& d) {
        if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (clocks == nullptr || *count < 1) {
            *count = 1;
            return NVML_ERROR_INSUFFICIENT_SIZE;
        }
        clocks[0] = d.clock_mem_mhz;
        *count = 1;
        return NVML_SUCCESS;
    });
}

// Highest first, as the driver lists them; a memory clock the board does not support is NOT_FOUND.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSupportedGraphicsClocks(nvmlDevice_t device, unsigned memory_clock,
                                                              unsigned* count, unsigned* clocks) {
    return device_call(kGetSupportedGraphicsClocks, device, [&](State&, Device& d) {
        if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (memory_clock != d.clock_mem_mhz) return NVML_ERROR_NOT_FOUND;
        const unsigned n = (d.sm_clock_max_mhz - d.sm_clock_min_mhz) / d.sm_clock_step_mhz + 1;
        if (clocks == nullptr || *count < n) {
            *count = n;
            return NVML_ERROR_INSUFFICIENT_SIZE;
        }
        for (unsigned i = 0; i < n; ++i) clocks[i] = d.sm_clock_max_mhz - i * d.sm_clock_step_mhz;
        *count = n;
        return NVML_SUCCESS;
    });
}
#endif

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned* limit) {
    return device_call(kGetPowerManagementLimit, device, [&](State&, Device& d) {
        if (limit == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *limit = d.power_limit_mw;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device,
                                                                      unsigned* min_limit,
                                                                      unsigned* max_limit) {
    return device_call(kGetPowerManagementLimitConstraints, device, [&](State&, Device& d) {
        if (min_limit == nullptr || max_limit == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *min_limit = d.power_limit_min_mw;
        *max_limit = d.power_limit_max_mw;
        return NVML_SUCCESS;
    });
}

#ifndef JP_FAKE_NVML_NO_ACTUATION
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned* limit) {
    return device_call(kGetPowerManagementDefaultLimit, device, [&](State&, Device& d) {
        if (limit == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *limit = d.default_power_limit_mw;
        return NVML_SUCCESS;
    });
}
#endif

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned* limit) {
    return device_call(kGetEnforcedPowerLimit, device, [&](State&, Device& d) {
        if (limit == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *limit = d.enforced_power_limit_mw.value_or(d.power_limit_mw);
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned* current, unsigned* pending) {
    return device_call(kGetMigMode, device, [&](State&, Device& d) {
        if (current == nullptr || pending == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *current = d.mig_mode;
        *pending = d.mig_mode;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned* count) {
    return device_call(kGetMaxMigDeviceCount, device, [&](State&, Device& d) {
        if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        *count = d.mig_mode == 1 ? d.mig_instances : 0;
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned index,
                                                             nvmlDevice_t* mig_device) {
    return device_call(kGetMigDeviceHandleByIndex, device, [&](State& s, Device& d) {
        if (mig_device == nullptr || d.mig_mode != 1 || index >= d.mig_instances)
            return NVML_ERROR_INVALID_ARGUMENT;
        const unsigned parent = index_of(s, d);
        MigInstance& instance = s.mig_instances[parent * kMaxMigInstances + index];
        instance = MigInstance{parent, index};
        *mig_device = reinterpret_cast<nvmlDevice_t>(&instance);
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned* count,
                                                              nvmlProcessInfo_v1_t* infos) {
    return do_running_processes(kGetComputeRunningProcesses, device, count, infos);
}
#ifndef JP_FAKE_NVML_NO_VERSIONED
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned* count,
                                                                 nvmlProcessInfo_v2_t* infos) {
    return do_running_processes(kGetComputeRunningProcessesV2, device, count, infos);
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned* count,
                                                                 nvmlProcessInfo_v2_t* infos) {
    return do_running_processes(kGetComputeRunningProcessesV3, device, count, infos);
}
#endif

// One sample per process per call, time-stamped one second after the previous call's.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                         nvmlProcessUtilizationSample_t* utilization,
                                                         unsigned* count, unsigned long long last_seen) {
    return device_call(kGetProcessUtilization, device, [&](State&, Device& d) {
        if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
        if (d.mig_mode == 1) return NVML_ERROR_NOT_SUPPORTED;
        const auto n = static_cast<unsigned>(d.processes.size());
        if (n == 0) {
            *count = 0;
            return NVML_ERROR_NOT_FOUND;
        }
        if (utilization == nullptr || *count < n) {
            *count = n;
            return NVML_ERROR_INSUFFICIENT_SIZE;
        }
        d.sample_clock_us += 1'000'000;
        unsigned written = 0;
        for (const Process& p : d.processes) {
            if (d.sample_clock_us <= last_seen) continue;
            utilization[written++] =
                nvmlProcessUtilizationSample_t{p.pid, d.sample_clock_us, p.sm_percent, p.mem_percent, 0, 0};
        }
        *count = written;
        return written == 0 ? NVML_ERROR_NOT_FOUND : NVML_SUCCESS;
    });
}

#ifndef JP_FAKE_NVML_NO_ACTUATION
FAKE_EXPORT nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t device, unsigned limit) {
    return device_call(kSetPowerManagementLimit, device, [&](State& s, Device& d) {
        if (limit < d.power_limit_min_mw || limit > d.power_limit_max_mw) return NVML_ERROR_INVALID_ARGUMENT;
        d.power_limit_mw = limit;
        s.set_log.push_back("nvmlDeviceSetPowerManagementLimit " + std::to_string(index_of(s, d)) + ' ' +
                            std::to_string(limit));
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t device, unsigned min_mhz,
                                                      unsigned max_mhz) {
    return device_call(kSetGpuLockedClocks, device, [&](State& s, Device& d) {
        if (min_mhz > max_mhz || min_mhz < d.sm_clock_min_mhz || max_mhz > d.sm_clock_max_mhz)
            return NVML_ERROR_INVALID_ARGUMENT;
        d.locked_sm_min_mhz = min_mhz;
        d.locked_sm_max_mhz = max_mhz;
        s.set_log.push_back("nvmlDeviceSetGpuLockedClocks " + std::to_string(index_of(s, d)) + ' ' +
                            std::to_string(min_mhz) + ' ' + std::to_string(max_mhz));
        return NVML_SUCCESS;
    });
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t device) {
    return device_call(kResetGpuLockedClocks, device, [&](State& s, Device& d) {
        d.locked_sm_min_mhz = 0;
        d.locked_sm_max_mhz = 0;
        s.set_log.push_back("nvmlDeviceResetGpuLockedClocks " + std::to_string(index_of(s, d)));
        return NVML_SUCCESS;
    });
}
#endif

// ---- Test control (not NVML) ----------------------------------------------------------------------------

// Forgets everything: no devices, no injected errors, counts and set log cleared, not initialised.
FAKE_EXPORT void jp_fake_nvml_reset() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    reset_devices(s);
    s.init_refs = 0;
    s.calls = {};
    s.set_log.clear();
}

// Applies state directives (see the top of this file) now. Returns 0, or the number of the bad line.
FAKE_EXPORT int jp_fake_nvml_apply(const char* directives) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return apply_directives(s, directives != nullptr ? directives : "");
}

// Calls of one exact symbol ("nvmlDeviceGetComputeRunningProcesses_v3") since the last reset.
FAKE_EXPORT unsigned long long jp_fake_nvml_call_count(const char* symbol) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    for (std::size_t i = 0; i < kSymbolCount; ++i) {
        if (symbol != nullptr && std::strcmp(symbol, kSymbols[i].name) == 0) return s.calls[i];
    }
    return 0;
}

// Writes "call SYMBOL N" and "set ..." lines to `path`. Returns 0 on success.
FAKE_EXPORT int jp_fake_nvml_write_counts(const char* path) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return path != nullptr ? write_counts(s, path) : -1;
}

FAKE_EXPORT unsigned jp_fake_nvml_set_log_size() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return static_cast<unsigned>(s.set_log.size());
}

// Copies set-log entry `index` ("nvmlDeviceSetGpuLockedClocks 0 900 1500") into `buffer`. Returns 0, or -1.
FAKE_EXPORT int jp_fake_nvml_set_log_entry(unsigned index, char* buffer, unsigned length) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (index >= s.set_log.size() || buffer == nullptr || length <= s.set_log[index].size()) return -1;
    std::memcpy(buffer, s.set_log[index].c_str(), s.set_log[index].size() + 1);
    return 0;
}

// The current value of a device's state: energy_mj, power_limit_mw, default_power_limit_mw,
// enforced_power_limit_mw,
// locked_sm_min_mhz, locked_sm_max_mhz, calls. -1 for an unknown key or device.
FAKE_EXPORT long long jp_fake_nvml_device_value(unsigned device, const char* key) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    if (device >= kMaxDevices || key == nullptr) return -1;
    const Device& d = s.devices[device];
    const std::string_view k(key);
    if (k == "energy_mj") return static_cast<long long>(d.energy_mj);
    if (k == "power_limit_mw") return d.power_limit_mw;
    if (k == "default_power_limit_mw") return d.default_power_limit_mw;
    if (k == "enforced_power_limit_mw") return d.enforced_power_limit_mw.value_or(d.power_limit_mw);
    if (k == "locked_sm_min_mhz") return d.locked_sm_min_mhz;
    if (k == "locked_sm_max_mhz") return d.locked_sm_max_mhz;
    if (k == "calls") return static_cast<long long>(d.calls);
    return -1;
}
