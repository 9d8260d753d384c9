#include "sense/nvml/nvml_sensor.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "sense/nvml/nvml_library.hpp"

namespace joulepilot::sense {

namespace {

using nvml_abi::Return;

constexpr double kMilli = 1e-3;
constexpr double kHertzPerMegahertz = 1e6;
constexpr double kPercent = 1e-2;
// First guesses for the per-GPU process buffers; they grow when NVML says they are too small.
constexpr std::size_t kInitialProcessCapacity = 32;
constexpr std::size_t kInitialSampleCapacity = 64;

bool is_success(Return status) { return status == nvml_abi::kSuccess; }

// NOT_SUPPORTED and friends: the GPU or driver will never answer, so the signal is left out for good.
bool is_permanent_absence(Return status) {
    return status == nvml_abi::kErrorNotSupported || status == nvml_abi::kErrorFunctionNotFound ||
           status == nvml_abi::kErrorNoPermission;
}

// Field values come back as whatever type NVML chose for the field; instant power is an unsigned int today.
std::optional<double> field_value(const nvml_abi::FieldValue& v) {
    switch (v.value_type) {
        case nvml_abi::kValueTypeDouble:
            return v.value.d_val;
        case nvml_abi::kValueTypeUnsignedInt:
            return static_cast<double>(v.value.ui_val);
        case nvml_abi::kValueTypeUnsignedLong:
            return static_cast<double>(v.value.ul_val);
        case nvml_abi::kValueTypeUnsignedLongLong:
            return static_cast<double>(v.value.ull_val);
        case nvml_abi::kValueTypeSignedLongLong:
            return static_cast<double>(v.value.sll_val);
        case nvml_abi::kValueTypeSignedInt:
            return static_cast<double>(v.value.si_val);
        case nvml_abi::kValueTypeUnsignedShort:
            return static_cast<double>(v.value.us_val);
        default:
            return std::nullopt;
    }
}

// One read of the instant-power field. The call's status comes first; then the field's own status.
Return read_instant_power_mw(const NvmlFunctions& f, nvml_abi::Device device, double& power_mw) {
    nvml_abi::FieldValue value{};
    value.field_id = nvml_abi::kFieldPowerInstant;
    Return status = f.device_get_field_values(device, 1, &value);
    if (is_success(status)) status = value.nvml_return;
    if (!is_success(status)) return status;
    const std::optional<double> mw = field_value(value);
    if (!mw) return nvml_abi::kErrorUnknown;
    power_mw = *mw;
    return nvml_abi::kSuccess;
}

std::string read_string(nvml_abi::DeviceGetStringFn fn, nvml_abi::Device device, unsigned size) {
    if (fn == nullptr) return {};
    std::string buffer(size, '\0');
    if (!is_success(fn(device, buffer.data(), size))) return {};
    buffer.resize(std::strlen(buffer.c_str()));  // NVML terminates within `size`
    return buffer;
}

}  // namespace

NvmlSensor::NvmlSensor(NvmlSensorOptions options)
    : m_options(std::move(options)),
      m_own_clock(std::make_unique<core::SystemClock>()),
      m_clock(*m_own_clock) {}

NvmlSensor::NvmlSensor(NvmlSensorOptions options, const core::Clock& clock)
    : m_options(std::move(options)), m_clock(clock) {}

NvmlSensor::~NvmlSensor() { close(); }

void NvmlSensor::close() {
    m_gpus.clear();
    m_session.reset();  // nvmlShutdown before the library goes
    m_library.reset();
    m_signal_count = 0;
}

std::vector<SignalInfo> NvmlSensor::discover() {
    close();
    m_unavailable.clear();
    m_library_path = resolve_nvml_library_path(m_options.library_path);

    auto library = NvmlLibrary::open(m_library_path);
    if (!library) {
        m_last_error = library.error().message;
        m_unavailable.push_back(
            {"NVML", "not present",
             fmt::format("install the NVIDIA driver or set JOULEPILOT_NVML_LIBRARY or [nvml] "
                         "library in the config (tried {})",
                         m_library_path)});
        return {};
    }
    m_library = std::move(*library);
    auto session = NvmlSession::open(*m_library);
    if (!session) {
        m_last_error = session.error().message;
        std::string fix;
        if (!m_library->complete()) {
            fix = "point JOULEPILOT_NVML_LIBRARY at the driver's libnvidia-ml.so.1";
        } else {
            fix = "check that the NVIDIA kernel driver is loaded and this user may open /dev/nvidia*";
        }
        m_unavailable.push_back({"NVML", session.error().message, std::move(fix)});
        m_library.reset();
        return {};
    }
    m_session = std::move(*session);
    const NvmlFunctions& f = m_library->functions();

    unsigned count = 0;
    if (const Return status = f.device_get_count(&count); !is_success(status)) {
        m_unavailable.push_back(
            {"NVML", fmt::format("{}: {}", f.device_get_count_symbol, m_library->error_string(status)), ""});
        return {};
    }
    if (count == 0) {
        m_unavailable.push_back({"NVIDIA GPUs", "not present", ""});
        return {};
    }

    std::vector<SignalInfo> signals;
    m_gpus.reserve(count);
    for (unsigned index = 0; index < count; ++index) {
        Gpu gpu;
        gpu.info.index = index;
        // A GPU hidden by the container's device cgroup answers NO_PERMISSION here; it is simply not ours.
        if (const Return status = f.device_get_handle_by_index(index, &gpu.handle); !is_success(status)) {
            m_unavailable.push_back({fmt::format("GPU {}", index), m_library->error_string(status), ""});
            continue;
        }
        probe_gpu(gpu);
        if (gpu.info.lost) {
            m_unavailable.push_back({fmt::format("GPU {}", index), "lost (GPU_IS_LOST at discovery)",
                                     "check the kernel log for Xid errors; the GPU needs a reset"});
            continue;
        }
        add_gpu_signals(gpu, signals);
        m_gpus.push_back(std::move(gpu));
    }
    m_signal_count = signals.size();
    return signals;
}

void NvmlSensor::mark_unsupported(const Gpu& gpu, std::string what, Return status) {
    std::string reason;
    std::string fix;
    if (status == nvml_abi::kErrorNoPermission) {
        reason = "permission denied";
        fix = "run joulepilot as root or grant this user access to the GPU";
    } else if (status == nvml_abi::kErrorFunctionNotFound) {
        reason = "not in this NVML version";
        fix = "update the NVIDIA driver";
    } else if (gpu.info.mig_enabled) {
        reason = "not supported in MIG mode";
    } else {
        reason = "not supported by this GPU";
    }
    m_unavailable.push_back(
        {fmt::format("GPU {} {}", gpu.info.index, what), std::move(reason), std::move(fix)});
}

void NvmlSensor::probe_gpu(Gpu& gpu) {
    const NvmlFunctions& f = m_library->functions();
    const nvml_abi::Device h = gpu.handle;
    NvmlGpuInfo& info = gpu.info;
    info.name = read_string(f.device_get_name, h, nvml_abi::kDeviceNameBufferSize);
    info.uuid = read_string(f.device_get_uuid, h, nvml_abi::kDeviceUuidBufferSize);
    if (f.device_get_mig_mode != nullptr) {
        unsigned current = 0;
        unsigned pending = 0;
        if (is_success(f.device_get_mig_mode(h, &current, &pending))) {
            info.mig_enabled = current == nvml_abi::kDeviceMigEnable;
        }
    }

    // Each probe is one real call: success or a transient error keeps the signal (it may read next tick);
    // a permanent absence drops it; GPU_IS_LOST drops the whole GPU.
    const auto probe = [&](bool has_function, auto&& call, const char* what) -> bool {
        if (info.lost) return false;
        const Return status = has_function ? call() : nvml_abi::kErrorFunctionNotFound;
        if (status == nvml_abi::kErrorGpuIsLost) {
            info.lost = true;
            return false;
        }
        if (is_permanent_absence(status)) {
            mark_unsupported(gpu, what, status);
            return false;
        }
        return true;
    };

    gpu.supported[kEnergy] = probe(
        f.device_get_total_energy_consumption != nullptr,
        [&] {
            unsigned long long energy_mj = 0;
            const Return status = f.device_get_total_energy_consumption(h, &energy_mj);
            if (is_success(status)) {
                gpu.energy.emplace(energy_mj);
                gpu.counter_time_s = m_clock.now().value();
            }
            return status;
        },
        "total energy counter");
    if (m_options.energy_only) return;

    // Instant power where the driver has the field; NVML's averaged power usage otherwise.
    if (f.device_get_field_values != nullptr) {
        double power_mw = 0.0;
        const Return status = read_instant_power_mw(f, h, power_mw);
        if (status == nvml_abi::kErrorGpuIsLost) info.lost = true;
        info.power_instant = is_success(status);
    }
    if (info.power_instant) {
        gpu.supported[kPower] = true;
    } else if (!info.lost) {
        if (f.device_get_field_values != nullptr) {
            m_unavailable.push_back({fmt::format("GPU {} instant power", info.index),
                                     "not supported by this GPU",
                                     "power_watts is NVML's averaged power usage instead"});
        }
        gpu.supported[kPower] = probe(
            f.device_get_power_usage != nullptr,
            [&] {
                unsigned power_mw = 0;
                return f.device_get_power_usage(h, &power_mw);
            },
            "power");
    }

    const bool utilization = probe(
        f.device_get_utilization_rates != nullptr,
        [&] {
            nvml_abi::Utilization rates{};
            return f.device_get_utilization_rates(h, &rates);
        },
        "utilisation");
    gpu.supported[kUtilization] = utilization;
    gpu.supported[kMemoryUtilization] = utilization;

    gpu.supported[kTemperature] = probe(
        f.device_get_temperature != nullptr,
        [&] {
            unsigned celsius = 0;
            return f.device_get_temperature(h, nvml_abi::kTemperatureGpu, &celsius);
        },
        "temperature");
    gpu.supported[kSmClock] = probe(
        f.device_get_clock_info != nullptr,
        [&] {
            unsigned mhz = 0;
            return f.device_get_clock_info(h, nvml_abi::kClockSm, &mhz);
        },
        "SM clock");
    gpu.supported[kMemoryClock] = probe(
        f.device_get_clock_info != nullptr,
        [&] {
            unsigned mhz = 0;
            return f.device_get_clock_info(h, nvml_abi::kClockMem, &mhz);
        },
        "memory clock");

    // The enforced limit is what the GPU obeys (it folds in limits set outside NVML's management limit);
    // older drivers only have the management limit.
    if (f.device_get_enforced_power_limit != nullptr && !info.lost) {
        unsigned limit_mw = 0;
        const Return status = f.device_get_enforced_power_limit(h, &limit_mw);
        if (status == nvml_abi::kErrorGpuIsLost) info.lost = true;
        gpu.power_limit_enforced = !is_permanent_absence(status) && !info.lost;
    }
    if (gpu.power_limit_enforced) {
        gpu.supported[kPowerLimit] = true;
    } else {
        gpu.supported[kPowerLimit] = probe(
            f.device_get_power_management_limit != nullptr,
            [&] {
                unsigned limit_mw = 0;
                return f.device_get_power_management_limit(h, &limit_mw);
            },
            "power limit");
    }

    // The settable range is fixed by the board: read once here and reported with every sample.
    bool constraints_read = false;
    const bool constraints = probe(
        f.device_get_power_management_limit_constraints != nullptr,
        [&] {
            unsigned min_mw = 0;
            unsigned max_mw = 0;
            const Return status = f.device_get_power_management_limit_constraints(h, &min_mw, &max_mw);
            if (is_success(status)) {
                gpu.power_limit_min_watts = min_mw * kMilli;
                gpu.power_limit_max_watts = max_mw * kMilli;
                constraints_read = true;
            }
            return status;
        },
        "power limit constraints");
    // Only a value we hold can be reported; a transient failure here drops the pair for this run.
    gpu.supported[kPowerLimitMin] = constraints && constraints_read;
    gpu.supported[kPowerLimitMax] = constraints && constraints_read;

    // Per-process use, for attribution (not signals). A null buffer asks only for the count.
    gpu.running_processes_supported = probe(
        f.device_get_compute_running_processes_v2 != nullptr ||
            f.device_get_compute_running_processes_v1 != nullptr,
        [&] {
            unsigned n = 0;
            const Return status = f.device_get_compute_running_processes_v2 != nullptr
                                      ? f.device_get_compute_running_processes_v2(h, &n, nullptr)
                                      : f.device_get_compute_running_processes_v1(h, &n, nullptr);
            return status == nvml_abi::kErrorInsufficientSize ? nvml_abi::kSuccess : status;
        },
        "running processes");
    gpu.process_utilization_supported = probe(
        f.device_get_process_utilization != nullptr,
        [&] {
            unsigned n = 0;
            const Return status = f.device_get_process_utilization(h, nullptr, &n, 0);
            // INSUFFICIENT_SIZE (there are samples) and NOT_FOUND (none yet) both mean it works.
            if (status == nvml_abi::kErrorInsufficientSize || status == nvml_abi::kErrorNotFound) {
                return nvml_abi::kSuccess;
            }
            return status;
        },
        "per-process utilisation");
}

void NvmlSensor::add_gpu_signals(Gpu& gpu, std::vector<SignalInfo>& signals) {
    const NvmlGpuInfo& info = gpu.info;
    const std::string label = info.name.empty() ? fmt::format("GPU {}", info.index)
                                                : fmt::format("GPU {} ({})", info.index, info.name);
    add_signal(gpu, kEnergy, signals, "energy_joules_total", "J",
               label + " energy since discovery, from NVML's total energy counter (mJ)");
    if (gpu.supported[kEnergy] && interpolates_energy(gpu)) {
        SignalInfo& energy = signals[gpu.slot[kEnergy]];
        energy.provenance = Provenance::derived;
        energy.description = fmt::format(
            "{} energy since discovery: NVML's total energy counter (mJ), read every {:g} s (exact at each "
            "read), plus power integrated in between",
            label, m_options.energy_read_interval.value());
    }
    add_signal(gpu, kPower, signals, "power_watts", "W",
               label + (info.power_instant ? " board power, instant (NVML field 186)"
                                           : " board power, NVML power usage (averaged by the driver)"));
    add_signal(gpu, kUtilization, signals, "utilization_ratio", "ratio",
               label + " fraction of time a kernel was running (NVML sample period)");
    add_signal(gpu, kMemoryUtilization, signals, "memory_utilization_ratio", "ratio",
               label + " fraction of time device memory was read or written (NVML sample period)");
    add_signal(gpu, kTemperature, signals, "temperature_celsius", "degC", label + " die temperature");
    add_signal(gpu, kSmClock, signals, "sm_clock_hz", "Hz", label + " current SM clock");
    add_signal(gpu, kMemoryClock, signals, "memory_clock_hz", "Hz", label + " current memory clock");
    add_signal(gpu, kPowerLimit, signals, "power_limit_watts", "W",
               label + (gpu.power_limit_enforced ? " enforced power limit" : " power management limit"));
    add_signal(gpu, kPowerLimitMin, signals, "power_limit_min_watts", "W",
               label + " lowest settable power limit");
    add_signal(gpu, kPowerLimitMax, signals, "power_limit_max_watts", "W",
               label + " highest settable power limit");
}

void NvmlSensor::add_signal(Gpu& gpu, Field field, std::vector<SignalInfo>& signals, std::string suffix,
                            std::string unit, std::string description) {
    if (!gpu.supported[field]) return;
    gpu.slot[field] = signals.size();
    signals.push_back(SignalInfo{fmt::format("gpu.{}.{}", gpu.info.index, suffix), std::move(unit),
                                 Provenance::measured, std::move(description)});
}

bool NvmlSensor::check(Gpu& gpu, Return status, const char* call) {
    if (is_success(status)) return true;
    ++m_read_errors;
    if (status == nvml_abi::kErrorGpuIsLost) gpu.info.lost = true;
    m_last_error =
        fmt::format("nvml: {} (GPU {}): {}", call, gpu.info.index, m_library->error_string(status));
    return false;
}

core::Result<void> NvmlSensor::read(std::span<Sample> samples) {
    std::fill(samples.begin(), samples.end(), Sample{});
    if (samples.size() < m_signal_count) {
        return core::fail(
            fmt::format("nvml: read: {} samples for {} signals", samples.size(), m_signal_count));
    }
    std::size_t failed = 0;
    const double now_s = m_clock.now().value();
    for (Gpu& gpu : m_gpus) {
        // A GPU failed this tick when it is lost or when every call made for it failed.
        if (gpu.info.lost || !read_gpu(gpu, samples, now_s)) ++failed;
    }
    if (!m_gpus.empty() && failed == m_gpus.size()) {
        return core::fail(fmt::format("nvml: read: no GPU could be read (last error: {})", m_last_error));
    }
    return {};
}

bool NvmlSensor::interpolates_energy(const Gpu& gpu) const {
    return !m_options.energy_only && m_options.energy_read_interval.value() > 0 && gpu.supported[kPower];
}

void NvmlSensor::read_energy(Gpu& gpu, std::span<Sample> samples, double now_s, std::optional<double> power_w,
                             unsigned& calls) {
    const bool interpolate = interpolates_energy(gpu);
    // Integrate this read's span when there is a power reading at both of its ends.
    std::optional<double> integrated;
    if (interpolate && power_w && gpu.last_power_w && gpu.energy) {
        integrated =
            gpu.integrated_j + 0.5 * (*gpu.last_power_w + *power_w) * (now_s - gpu.last_power_time_s);
    }
    // The counter is due at the read nearest the interval: half the last tick early still counts, so a
    // 5 s interval at 1 s ticks reads at every fifth tick despite jitter.
    const double tick_s = gpu.last_read_time_s > 0 ? now_s - gpu.last_read_time_s : 0.0;
    const bool due = now_s - gpu.counter_time_s + tick_s / 2 >= m_options.energy_read_interval.value();
    gpu.last_read_time_s = now_s;
    if (power_w) {
        gpu.last_power_w = power_w;
        gpu.last_power_time_s = now_s;
    } else {
        gpu.last_power_w.reset();  // the next span has no power at its start: read the counter then
    }

    const auto report = [&](double total_j, bool derived) {
        // A counter value below what was reported (the integral ran ahead) is not what is reported.
        gpu.energy_derived = derived || total_j < gpu.reported_j;
        gpu.reported_j = std::max(gpu.reported_j, total_j);
        samples[gpu.slot[kEnergy]] = Sample{gpu.reported_j, true};
    };
    if (!integrated || due) {
        ++calls;
        const NvmlFunctions& f = m_library->functions();
        unsigned long long energy_mj = 0;
        if (check(gpu, f.device_get_total_energy_consumption(gpu.handle, &energy_mj),
                  "nvmlDeviceGetTotalEnergyConsumption")) {
            ++m_energy_counter_reads;
            if (gpu.energy) {
                gpu.energy->update(energy_mj);
            } else {
                gpu.energy.emplace(energy_mj);
            }
            gpu.counter_time_s = now_s;
            gpu.integrated_j = 0.0;
            report(gpu.energy->total_joules(), false);
            return;
        }
        if (!integrated || gpu.info.lost) return;  // missing this tick
        // The counter failed but power did not: keep integrating from the last good counter read.
    }
    gpu.integrated_j = *integrated;
    report(gpu.energy->total_joules() + gpu.integrated_j, true);
}

bool NvmlSensor::energy_read_was_derived(unsigned index) const {
    for (const Gpu& gpu : m_gpus) {
        if (gpu.info.index == index) return gpu.energy_derived;
    }
    return false;
}

bool NvmlSensor::read_gpu(Gpu& gpu, std::span<Sample> samples, double now_s) {
    const NvmlFunctions& f = m_library->functions();
    const std::uint64_t errors_before = m_read_errors;
    unsigned calls = 0;
    const nvml_abi::Device h = gpu.handle;
    const auto wanted = [&](Field field) {
        const bool want = gpu.supported[field] && !gpu.info.lost;
        if (want) ++calls;
        return want;
    };
    const auto set = [&](Field field, double value) { samples[gpu.slot[field]] = Sample{value, true}; };

    std::optional<double> power_w;
    if (wanted(kPower)) {
        if (gpu.info.power_instant) {
            double power_mw = 0.0;
            if (check(gpu, read_instant_power_mw(f, h, power_mw),
                      "nvmlDeviceGetFieldValues(POWER_INSTANT)")) {
                power_w = power_mw * kMilli;
            }
        } else {
            unsigned power_mw = 0;
            if (check(gpu, f.device_get_power_usage(h, &power_mw), "nvmlDeviceGetPowerUsage")) {
                power_w = power_mw * kMilli;
            }
        }
        if (power_w) set(kPower, *power_w);
    }
    // After power: between counter reads, energy integrates it. Not through wanted(): a derived value
    // makes no NVML call.
    if (gpu.supported[kEnergy] && !gpu.info.lost) read_energy(gpu, samples, now_s, power_w, calls);
    if (wanted(kUtilization)) {
        nvml_abi::Utilization rates{};
        if (check(gpu, f.device_get_utilization_rates(h, &rates), "nvmlDeviceGetUtilizationRates")) {
            set(kUtilization, rates.gpu * kPercent);
            set(kMemoryUtilization, rates.memory * kPercent);
        }
    }
    if (wanted(kTemperature)) {
        unsigned celsius = 0;
        if (check(gpu, f.device_get_temperature(h, nvml_abi::kTemperatureGpu, &celsius),
                  "nvmlDeviceGetTemperature")) {
            set(kTemperature, celsius);
        }
    }
    if (wanted(kSmClock)) {
        unsigned mhz = 0;
        if (check(gpu, f.device_get_clock_info(h, nvml_abi::kClockSm, &mhz), "nvmlDeviceGetClockInfo(SM)")) {
            set(kSmClock, mhz * kHertzPerMegahertz);
        }
    }
    if (wanted(kMemoryClock)) {
        unsigned mhz = 0;
        if (check(gpu, f.device_get_clock_info(h, nvml_abi::kClockMem, &mhz),
                  "nvmlDeviceGetClockInfo(MEM)")) {
            set(kMemoryClock, mhz * kHertzPerMegahertz);
        }
    }
    if (wanted(kPowerLimit)) {
        unsigned limit_mw = 0;
        const bool ok = gpu.power_limit_enforced
                            ? check(gpu, f.device_get_enforced_power_limit(h, &limit_mw),
                                    "nvmlDeviceGetEnforcedPowerLimit")
                            : check(gpu, f.device_get_power_management_limit(h, &limit_mw),
                                    "nvmlDeviceGetPowerManagementLimit");
        if (ok) set(kPowerLimit, limit_mw * kMilli);
    }
    // Held since discovery: no call, so they do not count as one.
    if (gpu.supported[kPowerLimitMin] && !gpu.info.lost) set(kPowerLimitMin, gpu.power_limit_min_watts);
    if (gpu.supported[kPowerLimitMax] && !gpu.info.lost) set(kPowerLimitMax, gpu.power_limit_max_watts);

    if (gpu.info.lost) {
        // Half a tick from a GPU that fell off the bus is not a sample: all of it is missing.
        for (std::size_t field = 0; field < kFieldCount; ++field) {
            if (gpu.supported[field]) samples[gpu.slot[field]] = Sample{};
        }
        return false;
    }
    return calls == 0 || m_read_errors - errors_before < calls;
}

std::vector<NvmlGpuInfo> NvmlSensor::gpus() const {
    std::vector<NvmlGpuInfo> out;
    out.reserve(m_gpus.size());
    for (const Gpu& gpu : m_gpus) out.push_back(gpu.info);
    return out;
}

std::uint64_t NvmlSensor::energy_backward_steps() const {
    std::uint64_t total = 0;
    for (const Gpu& gpu : m_gpus) total += gpu.energy ? gpu.energy->backward_steps() : 0;
    return total;
}

std::uint64_t NvmlSensor::energy_counter_resets() const {
    std::uint64_t total = 0;
    for (const Gpu& gpu : m_gpus) total += gpu.energy ? gpu.energy->resets() : 0;
    return total;
}

core::Result<std::vector<GpuProcessUsage>> NvmlSensor::process_usage() {
    if (!available()) return core::fail("nvml: process usage: NVML is not available");
    std::vector<GpuProcessUsage> out;
    for (Gpu& gpu : m_gpus) {
        if (!gpu.info.lost) read_processes(gpu, out);
    }
    return out;
}

void NvmlSensor::read_processes(Gpu& gpu, std::vector<GpuProcessUsage>& out) {
    const NvmlFunctions& f = m_library->functions();
    const nvml_abi::Device h = gpu.handle;
    const std::size_t first = out.size();
    const auto entry = [&](std::uint32_t pid) -> GpuProcessUsage& {
        const auto it = std::find_if(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                                     [&](const GpuProcessUsage& u) { return u.pid == pid; });
        if (it != out.end()) return *it;
        GpuProcessUsage usage;
        usage.gpu = gpu.info.index;
        usage.pid = pid;
        return out.emplace_back(usage);
    };

    if (gpu.running_processes_supported) {
        // NVML fills at most `count` records and answers INSUFFICIENT_SIZE with the count it needs: grow once
        // or twice (processes can start between the calls), then give up for this call.
        const bool v2 = f.device_get_compute_running_processes_v2 != nullptr;
        if (m_process_buffer.empty()) m_process_buffer.resize(kInitialProcessCapacity);
        if (m_process_buffer_v1.empty() && !v2) m_process_buffer_v1.resize(kInitialProcessCapacity);
        Return status = nvml_abi::kErrorInsufficientSize;
        unsigned count = 0;
        for (int attempt = 0; attempt < 3 && status == nvml_abi::kErrorInsufficientSize; ++attempt) {
            if (v2) {
                count = static_cast<unsigned>(m_process_buffer.size());
                status = f.device_get_compute_running_processes_v2(h, &count, m_process_buffer.data());
                if (status == nvml_abi::kErrorInsufficientSize) m_process_buffer.resize(count + 8);
            } else {
                count = static_cast<unsigned>(m_process_buffer_v1.size());
                status = f.device_get_compute_running_processes_v1(h, &count, m_process_buffer_v1.data());
                if (status == nvml_abi::kErrorInsufficientSize) m_process_buffer_v1.resize(count + 8);
            }
        }
        if (check(gpu, status, "nvmlDeviceGetComputeRunningProcesses")) {
            for (unsigned i = 0; i < count; ++i) {
                if (v2) {
                    const nvml_abi::ProcessInfoV2& p = m_process_buffer[i];
                    GpuProcessUsage& usage = entry(p.pid);
                    usage.used_memory_bytes = p.used_gpu_memory;
                    if (p.gpu_instance_id != nvml_abi::kInvalidInstanceId)
                        usage.gpu_instance_id = p.gpu_instance_id;
                    if (p.compute_instance_id != nvml_abi::kInvalidInstanceId) {
                        usage.compute_instance_id = p.compute_instance_id;
                    }
                } else {
                    const nvml_abi::ProcessInfoV1& p = m_process_buffer_v1[i];
                    entry(p.pid).used_memory_bytes = p.used_gpu_memory;
                }
            }
        }
    }

    if (gpu.process_utilization_supported && !gpu.info.lost) {
        if (m_utilization_buffer.empty()) m_utilization_buffer.resize(kInitialSampleCapacity);
        Return status = nvml_abi::kErrorInsufficientSize;
        unsigned count = 0;
        for (int attempt = 0; attempt < 3 && status == nvml_abi::kErrorInsufficientSize; ++attempt) {
            count = static_cast<unsigned>(m_utilization_buffer.size());
            status = f.device_get_process_utilization(h, m_utilization_buffer.data(), &count,
                                                      gpu.last_process_sample_us);
            if (status == nvml_abi::kErrorInsufficientSize) m_utilization_buffer.resize(count + 16);
        }
        if (status == nvml_abi::kErrorNotFound) {
            count = 0;  // no sample newer than the last one we saw: nothing ran
            status = nvml_abi::kSuccess;
        }
        if (check(gpu, status, "nvmlDeviceGetProcessUtilization")) {
            // Sum per process first: a process has one sample per driver sample period.
            struct Sum {
                std::uint32_t pid;
                double sm = 0.0;
                double mem = 0.0;
                unsigned samples = 0;
            };
            std::vector<Sum> sums;
            double sm_all = 0.0;
            unsigned long long newest_us = gpu.last_process_sample_us;
            for (unsigned i = 0; i < count; ++i) {
                const nvml_abi::ProcessUtilizationSample& s = m_utilization_buffer[i];
                if (s.timestamp_us <= gpu.last_process_sample_us) continue;
                newest_us = std::max(newest_us, s.timestamp_us);
                auto it =
                    std::find_if(sums.begin(), sums.end(), [&](const Sum& x) { return x.pid == s.pid; });
                if (it == sums.end()) it = sums.insert(sums.end(), Sum{s.pid});
                it->sm += s.sm_util;
                it->mem += s.mem_util;
                ++it->samples;
                sm_all += s.sm_util;
            }
            gpu.last_process_sample_us = newest_us;
            for (const Sum& sum : sums) {
                GpuProcessUsage& usage = entry(sum.pid);
                usage.sm_utilization = sum.sm / sum.samples * kPercent;
                usage.memory_utilization = sum.mem / sum.samples * kPercent;
                usage.sm_share = sm_all > 0.0 ? sum.sm / sm_all : 0.0;
            }
        }
    }
}

}  // namespace joulepilot::sense
