#pragma once
// Our own declarations of the part of the NVML C ABI joulepilot calls. We never include nvml.h: the
// library is loaded at run time (see nvml_library.hpp), so the build needs no CUDA toolkit and the binary
// runs on machines without a GPU. Every layout here was checked against NVML's published reference and
// its headers (CUDA 11.x-12.x); the static_asserts pin the sizes those headers give on 64-bit Linux, so a
// wrong edit fails to compile instead of corrupting memory.
//
// Only plain C types appear here; names follow NVML's so the code reads next to its documentation.

#include <cstddef>
#include <cstdint>

namespace joulepilot::sense::nvml_abi {

// nvmlReturn_t: NVML passes its status as a C enum (an int on every ABI we support).
using Return = int;
inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorUninitialized = 1;
inline constexpr Return kErrorInvalidArgument = 2;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorNoPermission = 4;
inline constexpr Return kErrorNotFound = 6;
inline constexpr Return kErrorInsufficientSize = 7;
inline constexpr Return kErrorDriverNotLoaded = 9;
inline constexpr Return kErrorFunctionNotFound = 13;
inline constexpr Return kErrorGpuIsLost = 15;
inline constexpr Return kErrorUnknown = 999;

// nvmlDevice_t: an opaque handle owned by the library.
struct DeviceOpaque;
using Device = DeviceOpaque*;

// Buffer sizes NVML documents as always large enough (the _V2_ sizes, the larger ones).
inline constexpr unsigned kDeviceNameBufferSize = 96;
inline constexpr unsigned kDeviceUuidBufferSize = 96;

// nvmlTemperatureSensors_t
inline constexpr int kTemperatureGpu = 0;
// nvmlClockType_t
inline constexpr int kClockSm = 1;
inline constexpr int kClockMem = 2;
// nvmlDeviceGetMigMode: current mode value when MIG is on.
inline constexpr unsigned kDeviceMigEnable = 1;
// Field id of the instantaneous board power (mW) for nvmlDeviceGetFieldValues (nvml.h, R530 and later).
inline constexpr unsigned kFieldPowerInstant = 186;

// nvmlUtilization_t: percent of the last sample period (1/6 s to 1 s, per product).
struct Utilization {
    unsigned gpu;
    unsigned memory;
};
static_assert(sizeof(Utilization) == 8);

// nvmlProcessInfo_v1_t: what the unversioned nvmlDeviceGetComputeRunningProcesses fills.
struct ProcessInfoV1 {
    unsigned pid;
    unsigned long long used_gpu_memory;  // bytes
};
static_assert(sizeof(ProcessInfoV1) == 16);

// nvmlProcessInfo_v2_t and nvmlProcessInfo_t (the _v2 and _v3 entry points): MIG instance ids added,
// 0xFFFFFFFF when MIG is off.
struct ProcessInfoV2 {
    unsigned pid;
    unsigned long long used_gpu_memory;  // bytes
    unsigned gpu_instance_id;
    unsigned compute_instance_id;
};
static_assert(sizeof(ProcessInfoV2) == 24);
static_assert(offsetof(ProcessInfoV2, gpu_instance_id) == 16);
inline constexpr unsigned kInvalidInstanceId = 0xFFFFFFFFU;

// nvmlProcessUtilizationSample_t: one process's utilisation over one driver sample (percent).
struct ProcessUtilizationSample {
    unsigned pid;
    unsigned long long timestamp_us;  // CPU time stamp, microseconds since the Unix epoch
    unsigned sm_util;
    unsigned mem_util;
    unsigned enc_util;
    unsigned dec_util;
};
static_assert(sizeof(ProcessUtilizationSample) == 32);

// nvmlValue_t / nvmlFieldValue_t (nvmlDeviceGetFieldValues). The caller sets field_id (and scope_id 0);
// NVML sets the rest, and each entry has its own return code.
inline constexpr int kValueTypeDouble = 0;
inline constexpr int kValueTypeUnsignedInt = 1;
inline constexpr int kValueTypeUnsignedLong = 2;
inline constexpr int kValueTypeUnsignedLongLong = 3;
inline constexpr int kValueTypeSignedLongLong = 4;
inline constexpr int kValueTypeSignedInt = 5;
inline constexpr int kValueTypeUnsignedShort = 6;

union Value {
    double d_val;
    unsigned ui_val;
    unsigned long ul_val;
    unsigned long long ull_val;
    long long sll_val;
    int si_val;
    unsigned short us_val;
};
static_assert(sizeof(Value) == 8);

struct FieldValue {
    unsigned field_id;
    unsigned scope_id;
    long long timestamp_us;
    long long latency_us;
    int value_type;  // nvmlValueType_t
    Return nvml_return;
    Value value;
};
static_assert(sizeof(FieldValue) == 40);
static_assert(offsetof(FieldValue, value) == 32);

// Function types, one per entry point we resolve (the comment gives the unit of what comes back).
extern "C" {
using InitFn = Return (*)();
using ShutdownFn = Return (*)();
using ErrorStringFn = const char* (*)(Return);
using DeviceGetCountFn = Return (*)(unsigned* count);
using DeviceGetHandleByIndexFn = Return (*)(unsigned index, Device* device);
using DeviceGetStringFn = Return (*)(Device, char* buffer, unsigned length);  // name, UUID
using DeviceGetTotalEnergyConsumptionFn = Return (*)(Device, unsigned long long* energy_mj);
using DeviceGetPowerUsageFn = Return (*)(Device, unsigned* power_mw);
using DeviceGetFieldValuesFn = Return (*)(Device, int count, FieldValue* values);
using DeviceGetUtilizationRatesFn = Return (*)(Device, Utilization* utilization);
using DeviceGetTemperatureFn = Return (*)(Device, int sensor, unsigned* temperature_c);
using DeviceGetClockInfoFn = Return (*)(Device, int clock_type, unsigned* clock_mhz);
using DeviceGetPowerLimitFn = Return (*)(Device, unsigned* limit_mw);  // management and enforced limit
using DeviceGetPowerLimitConstraintsFn = Return (*)(Device, unsigned* min_limit_mw, unsigned* max_limit_mw);
// Actuation (root or CAP_SYS_ADMIN on the real driver). Supported clocks come highest first.
using DeviceSetPowerLimitFn = Return (*)(Device, unsigned limit_mw);
using DeviceGetSupportedMemoryClocksFn = Return (*)(Device, unsigned* count, unsigned* clocks_mhz);
using DeviceGetSupportedGraphicsClocksFn = Return (*)(Device, unsigned memory_clock_mhz, unsigned* count,
                                                      unsigned* clocks_mhz);
using DeviceSetGpuLockedClocksFn = Return (*)(Device, unsigned min_clock_mhz, unsigned max_clock_mhz);
using DeviceResetGpuLockedClocksFn = Return (*)(Device);
using DeviceGetMigModeFn = Return (*)(Device, unsigned* current_mode, unsigned* pending_mode);
using DeviceGetRunningProcessesV1Fn = Return (*)(Device, unsigned* count, ProcessInfoV1* infos);
using DeviceGetRunningProcessesV2Fn = Return (*)(Device, unsigned* count, ProcessInfoV2* infos);
using DeviceGetProcessUtilizationFn = Return (*)(Device, ProcessUtilizationSample* samples, unsigned* count,
                                                 unsigned long long last_seen_timestamp_us);
}

}  // namespace joulepilot::sense::nvml_abi
