#include "act/nvml/nvml_actuator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sense/nvml/nvml_library.hpp"

namespace joulepilot::act {

namespace {

using sense::nvml_abi::Return;

constexpr double kMilliwattsPerWatt = 1e3;
constexpr double kHertzPerMegahertz = 1e6;
// First guesses for the supported-clock lists (an H100 lists 119 SM clocks); grown when NVML asks.
constexpr unsigned kMemoryClockCapacity = 16;
constexpr unsigned kGraphicsClockCapacity = 256;

bool is_success(Return status) { return status == sense::nvml_abi::kSuccess; }

// What a person can do about a failed NVML write, by status.
std::string_view fix_for(Return status) {
    switch (status) {
        case sense::nvml_abi::kErrorNoPermission:
            return "changing GPU power limits and clocks needs root or CAP_SYS_ADMIN: run the agent as root "
                   "or "
                   "grant it CAP_SYS_ADMIN (docs/actuators.md)";
        case sense::nvml_abi::kErrorNotSupported:
            return "this GPU or driver does not support it: turn the knob off in [act.nvml]";
        case sense::nvml_abi::kErrorGpuIsLost:
            return "the GPU fell off the bus: check nvidia-smi and the kernel log; joulepilot no longer "
                   "writes "
                   "to it";
        case sense::nvml_abi::kErrorInvalidArgument:
            return "the driver refused the value: check the device's limits with nvidia-smi -q -d "
                   "POWER,CLOCK";
        case sense::nvml_abi::kErrorUninitialized:
        case sense::nvml_abi::kErrorDriverNotLoaded:
            return "the NVIDIA driver is not loaded";
        default:
            return "";
    }
}

// NVML's count/array protocol: call with a buffer; when it is too small NVML says how many it needs.
template <class Call>
Return read_clock_list(Call&& call, unsigned capacity, std::vector<unsigned>& out) {
    out.assign(capacity, 0);
    unsigned count = capacity;
    Return status = call(&count, out.data());
    if (status == sense::nvml_abi::kErrorInsufficientSize && count > capacity) {
        out.assign(count, 0);
        status = call(&count, out.data());
    }
    if (!is_success(status)) return status;
    out.resize(std::min<std::size_t>(count, out.size()));
    return status;
}

}  // namespace

NvmlActuatorConfig read_nvml_actuator_config(const core::ConfigSection& section) {
    NvmlActuatorConfig config;
    config.enable = section.boolean("enable", true);
    NvmlActuatorOptions& o = config.options;
    o.power_limit = section.boolean("power_limit", true);
    o.sm_clock_cap = section.boolean("sm_clock_cap", true);
    o.power_limit_step = core::Watts(section.number("power_limit_step_watts", 5.0, 0.001, 1000.0));
    if (section.has("power_limit_min_watts"))
        o.power_limit_min = core::Watts(section.number("power_limit_min_watts", 0.0, 0.0, 100000.0));
    if (section.has("power_limit_max_watts"))
        o.power_limit_max = core::Watts(section.number("power_limit_max_watts", 0.0, 0.0, 100000.0));
    if (section.has("sm_clock_min_mhz"))
        o.sm_clock_min = core::from_mhz(section.number("sm_clock_min_mhz", 0.0, 0.0, 100000.0));
    config.min_interval = core::Seconds(section.number("min_interval_s", 10.0, 0.0, 86400.0));
    if (o.power_limit_min && o.power_limit_max && *o.power_limit_min > *o.power_limit_max) {
        throw core::ConfigError(
            fmt::format("config: key '{}' ({} W) is above '{}' ({} W)",
                        section.path_of("power_limit_min_watts"), o.power_limit_min->value(),
                        section.path_of("power_limit_max_watts"), o.power_limit_max->value()));
    }
    return config;
}

NvmlActuator::NvmlActuator(NvmlActuatorOptions options) : m_options(std::move(options)) {}

NvmlActuator::~NvmlActuator() {
    if (m_changed.empty()) return;
    if (auto restored = restore(); !restored) {
        spdlog::error("nvml actuator: restore on destruction failed: {}", restored.error().message);
    }
}

std::vector<Knob> NvmlActuator::discover() {
    if (!m_opened) open();
    std::vector<Knob> knobs;
    knobs.reserve(m_slots.size());
    const std::vector<double> values = current();
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        Knob knob = m_slots[i].knob;
        knob.current = values[i];
        knobs.push_back(std::move(knob));
    }
    return knobs;
}

void NvmlActuator::open() {
    m_opened = true;
    m_library_path = sense::resolve_nvml_library_path(m_options.library_path);
    auto library = sense::NvmlLibrary::open(m_library_path);
    if (!library) {
        m_unavailable.push_back({"NVML", library.error().message,
                                 "install the NVIDIA driver, or name the library in [act.nvml] library"});
        return;
    }
    m_library = std::move(*library);
    auto session = sense::NvmlSession::open(*m_library);
    if (!session) {
        m_unavailable.push_back({"NVML", session.error().message, "check that the NVIDIA driver is loaded"});
        m_library.reset();
        return;
    }
    m_session = std::move(*session);

    const sense::NvmlFunctions& f = m_library->functions();
    unsigned count = 0;
    if (const Return status = f.device_get_count(&count); !is_success(status)) {
        m_unavailable.push_back(
            {"NVML", fmt::format("{}: {}", f.device_get_count_symbol, m_library->error_string(status)), ""});
        return;
    }
    for (unsigned i = 0; i < count; ++i) {
        Gpu gpu;
        gpu.index = i;
        if (const Return status = f.device_get_handle_by_index(i, &gpu.handle); !is_success(status)) {
            m_unavailable.push_back(
                {fmt::format("GPU {}", i),
                 fmt::format("{}: {}", f.device_get_handle_by_index_symbol, m_library->error_string(status)),
                 ""});
            continue;
        }
        if (f.device_get_name != nullptr) {
            std::string name(sense::nvml_abi::kDeviceNameBufferSize, '\0');
            if (is_success(
                    f.device_get_name(gpu.handle, name.data(), sense::nvml_abi::kDeviceNameBufferSize))) {
                name.resize(std::strlen(name.c_str()));
                gpu.name = std::move(name);
            }
        }
        m_gpus.push_back(std::move(gpu));
        probe_gpu(m_gpus.back(), m_gpus.size() - 1);
    }
}

void NvmlActuator::add_unavailable(const Gpu& gpu, std::string what, std::string reason, std::string fix) {
    m_unavailable.push_back({fmt::format("GPU {} {}", gpu.index, what), std::move(reason), std::move(fix)});
}

void NvmlActuator::probe_gpu(Gpu& gpu, std::size_t gpu_slot) {
    const sense::NvmlFunctions& f = m_library->functions();
    if (f.device_get_mig_mode != nullptr) {
        unsigned current_mode = 0;
        unsigned pending_mode = 0;
        if (is_success(f.device_get_mig_mode(gpu.handle, &current_mode, &pending_mode)) &&
            current_mode == sense::nvml_abi::kDeviceMigEnable) {
            add_unavailable(gpu, "knobs",
                            "MIG mode is on: its instances may serve other workloads, so joulepilot does not "
                            "cap the whole GPU",
                            "");
            return;
        }
    }

    if (m_options.power_limit) {
        unsigned min_mw = 0;
        unsigned max_mw = 0;
        unsigned limit_mw = 0;
        Return status = sense::nvml_abi::kErrorFunctionNotFound;
        if (f.device_set_power_management_limit == nullptr ||
            f.device_get_power_management_limit == nullptr ||
            f.device_get_power_management_limit_constraints == nullptr) {
            add_unavailable(gpu, "power limit", "the NVML library lacks the power-limit functions",
                            "update the NVIDIA driver");
        } else if (status = f.device_get_power_management_limit_constraints(gpu.handle, &min_mw, &max_mw);
                   !is_success(status)) {
            add_unavailable(
                gpu, "power limit",
                "nvmlDeviceGetPowerManagementLimitConstraints: " + m_library->error_string(status), "");
        } else if (status = f.device_get_power_management_limit(gpu.handle, &limit_mw); !is_success(status)) {
            add_unavailable(gpu, "power limit",
                            "nvmlDeviceGetPowerManagementLimit: " + m_library->error_string(status), "");
        } else {
            const double device_min = min_mw / kMilliwattsPerWatt;
            const double device_max = max_mw / kMilliwattsPerWatt;
            const double lo =
                std::max(device_min, m_options.power_limit_min.value_or(core::Watts(0)).value());
            const double hi =
                std::min(device_max, m_options.power_limit_max.value_or(core::Watts(device_max)).value());
            if (lo > hi || max_mw == 0) {
                add_unavailable(
                    gpu, "power limit",
                    fmt::format("configured bounds {}..{} W leave nothing of the device's {}..{} W",
                                m_options.power_limit_min.value_or(core::Watts(0)).value(),
                                m_options.power_limit_max.value_or(core::Watts(device_max)).value(),
                                device_min, device_max),
                    "widen the bounds in [act.nvml]");
            } else {
                Slot slot;
                slot.kind = Kind::power_limit;
                slot.gpu = gpu_slot;
                slot.knob.name = fmt::format("gpu.{}.power_limit_watts", gpu.index);
                slot.knob.unit = "W";
                slot.knob.domain = KnobDomain{lo, hi, m_options.power_limit_step.value(), {}};
                unsigned default_mw = max_mw;
                if (f.device_get_power_management_default_limit != nullptr) {
                    unsigned mw = 0;
                    if (is_success(f.device_get_power_management_default_limit(gpu.handle, &mw)))
                        default_mw = mw;
                }
                slot.knob.default_value = slot.knob.domain.clamp(default_mw / kMilliwattsPerWatt);
                slot.last_current = limit_mw / kMilliwattsPerWatt;
                slot.device_min_mw = min_mw;
                slot.device_max_mw = max_mw;
                m_index.emplace(slot.knob.name, m_slots.size());
                m_slots.push_back(std::move(slot));
            }
        }
    }

    if (m_options.sm_clock_cap) {
        if (f.device_set_gpu_locked_clocks == nullptr || f.device_reset_gpu_locked_clocks == nullptr ||
            f.device_get_supported_memory_clocks == nullptr ||
            f.device_get_supported_graphics_clocks == nullptr) {
            add_unavailable(
                gpu, "SM clock cap", "the NVML library lacks the locked-clock functions",
                "update the NVIDIA driver (locked clocks need R418 or later and a Volta or newer GPU)");
            return;
        }
        std::vector<unsigned> memory_mhz;
        Return status = read_clock_list(
            [&](unsigned* count, unsigned* clocks) {
                return f.device_get_supported_memory_clocks(gpu.handle, count, clocks);
            },
            kMemoryClockCapacity, memory_mhz);
        if (!is_success(status) || memory_mhz.empty()) {
            add_unavailable(gpu, "SM clock cap",
                            "nvmlDeviceGetSupportedMemoryClocks: " + m_library->error_string(status), "");
            return;
        }
        // The highest memory clock is the one a busy GPU runs at; its SM clock list is the one that matters.
        const unsigned memory_clock = *std::max_element(memory_mhz.begin(), memory_mhz.end());
        std::vector<unsigned> sm_mhz;
        status = read_clock_list(
            [&](unsigned* count, unsigned* clocks) {
                return f.device_get_supported_graphics_clocks(gpu.handle, memory_clock, count, clocks);
            },
            kGraphicsClockCapacity, sm_mhz);
        std::sort(sm_mhz.begin(), sm_mhz.end());
        sm_mhz.erase(std::unique(sm_mhz.begin(), sm_mhz.end()), sm_mhz.end());
        if (!is_success(status) || sm_mhz.empty() || sm_mhz.front() == 0) {
            add_unavailable(gpu, "SM clock cap",
                            "nvmlDeviceGetSupportedGraphicsClocks: " + m_library->error_string(status), "");
            return;
        }
        Slot slot;
        slot.kind = Kind::sm_clock_cap;
        slot.gpu = gpu_slot;
        slot.supported_mhz = sm_mhz;
        slot.lowest_clock_mhz = sm_mhz.front();
        slot.highest_clock_mhz = sm_mhz.back();
        const double floor_hz = m_options.sm_clock_min.value_or(core::Hertz(0)).value();
        std::vector<double> values;
        for (unsigned mhz : sm_mhz) {
            if (mhz * kHertzPerMegahertz >= floor_hz) values.push_back(mhz * kHertzPerMegahertz);
        }
        if (values.empty()) {
            add_unavailable(
                gpu, "SM clock cap",
                fmt::format("the configured floor {} MHz is above the highest supported clock {} MHz",
                            floor_hz / kHertzPerMegahertz, slot.highest_clock_mhz),
                "lower sm_clock_min_mhz in [act.nvml]");
            return;
        }
        slot.knob.name = fmt::format("gpu.{}.sm_clock_cap_hz", gpu.index);
        slot.knob.unit = "Hz";
        slot.knob.domain = KnobDomain{values.front(), values.back(), 0, values};
        slot.knob.default_value = values.back();
        m_index.emplace(slot.knob.name, m_slots.size());
        m_slots.push_back(std::move(slot));
    }
}

core::Result<unsigned> NvmlActuator::read_power_mw(const Slot& slot) const {
    const Gpu& gpu = m_gpus[slot.gpu];
    unsigned limit_mw = 0;
    const Return status = m_library->functions().device_get_power_management_limit(gpu.handle, &limit_mw);
    if (!is_success(status)) {
        return core::fail(failure(slot, "read the power limit (nvmlDeviceGetPowerManagementLimit)", status));
    }
    return limit_mw;
}

std::vector<double> NvmlActuator::current() const {
    std::vector<double> values;
    values.reserve(m_slots.size());
    for (const Slot& slot : m_slots) {
        if (slot.kind == Kind::sm_clock_cap) {
            values.push_back(slot.locked_max_mhz.value_or(slot.highest_clock_mhz) * kHertzPerMegahertz);
            continue;
        }
        if (!m_gpus[slot.gpu].lost) {
            if (auto mw = read_power_mw(slot)) slot.last_current = *mw / kMilliwattsPerWatt;
        }
        values.push_back(slot.last_current);
    }
    return values;
}

std::string NvmlActuator::failure(const Slot& slot, const std::string& what, Return status) const {
    const Gpu& gpu = m_gpus[slot.gpu];
    const std::string_view fix = fix_for(status);
    return fmt::format("nvml: GPU {}{}{}{}: {}: {}: {}{}{}", gpu.index, gpu.name.empty() ? "" : " (",
                       gpu.name, gpu.name.empty() ? "" : ")", slot.knob.name, what,
                       m_library->error_string(status), fix.empty() ? "" : "; ", fix);
}

core::Result<void> NvmlActuator::save_slot(Slot& slot) {
    if (slot.original_saved) return {};
    if (slot.kind == Kind::power_limit) {
        auto mw = read_power_mw(slot);
        if (!mw) return tl::unexpected(mw.error());
        slot.original_mw = *mw;
    }
    // A clock knob's original is "not locked": NVML cannot read locked clocks back (see the header).
    slot.original_saved = true;
    return {};
}

core::Result<void> NvmlActuator::save() {
    std::string errors;
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        Slot& slot = m_slots[i];
        // Never overwrite the original of a knob joulepilot changed; lost GPUs cannot be written anyway.
        if (is_changed(i) || m_gpus[slot.gpu].lost || slot.unsupported) continue;
        slot.original_saved = false;
        if (auto saved = save_slot(slot); !saved)
            errors += (errors.empty() ? "" : "; ") + saved.error().message;
    }
    if (!errors.empty()) return core::fail(errors);
    return {};
}

core::Result<void> NvmlActuator::write_power(Slot& slot, unsigned limit_mw) {
    Gpu& gpu = m_gpus[slot.gpu];
    const Return status = m_library->functions().device_set_power_management_limit(gpu.handle, limit_mw);
    if (is_success(status)) return {};
    if (status == sense::nvml_abi::kErrorGpuIsLost) gpu.lost = true;
    if (status == sense::nvml_abi::kErrorNotSupported) slot.unsupported = true;
    return core::fail(failure(slot,
                              fmt::format("set to {} W (nvmlDeviceSetPowerManagementLimit {} mW)",
                                          limit_mw / kMilliwattsPerWatt, limit_mw),
                              status));
}

core::Result<void> NvmlActuator::write_clock(Slot& slot, std::optional<unsigned> max_mhz) {
    Gpu& gpu = m_gpus[slot.gpu];
    const sense::NvmlFunctions& f = m_library->functions();
    // "Not capped" is always written as a reset, even when this process locked nothing: after a crash the
    // lock of the previous run is still there and this is how it goes away.
    const Return status = max_mhz
                              ? f.device_set_gpu_locked_clocks(gpu.handle, slot.lowest_clock_mhz, *max_mhz)
                              : f.device_reset_gpu_locked_clocks(gpu.handle);
    if (is_success(status)) {
        slot.locked_max_mhz = max_mhz;
        return {};
    }
    if (status == sense::nvml_abi::kErrorGpuIsLost) gpu.lost = true;
    if (status == sense::nvml_abi::kErrorNotSupported) slot.unsupported = true;
    const std::string what = max_mhz ? fmt::format("cap at {} MHz (nvmlDeviceSetGpuLockedClocks {} {} MHz)",
                                                   *max_mhz, slot.lowest_clock_mhz, *max_mhz)
                                     : std::string("remove the cap (nvmlDeviceResetGpuLockedClocks)");
    return core::fail(failure(slot, what, status));
}

core::Result<void> NvmlActuator::write_slot(Slot& slot, double value) {
    const Gpu& gpu = m_gpus[slot.gpu];
    if (gpu.lost) {
        return core::fail(
            fmt::format("nvml: GPU {}: {}: the GPU was lost (GPU_IS_LOST); joulepilot no longer "
                        "writes to it",
                        gpu.index, slot.knob.name));
    }
    if (slot.unsupported) {
        return core::fail(
            fmt::format("nvml: GPU {}: {}: not supported by this GPU or driver (NOT_SUPPORTED on an "
                        "earlier write); turn the knob off in [act.nvml]",
                        gpu.index, slot.knob.name));
    }
    // The device's limits, not the configured domain: the shield clamps into the domain, and crash recovery
    // puts back originals that may lie outside what joulepilot itself may choose.
    if (slot.kind == Kind::power_limit) {
        const double lo = slot.device_min_mw / kMilliwattsPerWatt;
        const double hi = slot.device_max_mw / kMilliwattsPerWatt;
        if (!std::isfinite(value) || value < lo || value > hi) {
            return core::fail(fmt::format("nvml: {}: {} W is outside the device's {}..{} W", slot.knob.name,
                                          value, lo, hi));
        }
        const auto limit_mw = static_cast<unsigned>(std::lround(value * kMilliwattsPerWatt));
        auto written = write_power(slot, limit_mw);
        if (written) slot.written_mw = limit_mw;
        return written;
    }
    const double mhz_value = std::isfinite(value) ? std::round(value / kHertzPerMegahertz) : -1.0;
    if (mhz_value < 0 || std::abs(mhz_value * kHertzPerMegahertz - value) > 0.5 ||
        !std::binary_search(slot.supported_mhz.begin(), slot.supported_mhz.end(),
                            static_cast<unsigned>(mhz_value))) {
        return core::fail(fmt::format("nvml: {}: {} Hz is not a supported clock ({}..{} MHz)", slot.knob.name,
                                      value, slot.lowest_clock_mhz, slot.highest_clock_mhz));
    }
    const auto mhz = static_cast<unsigned>(std::lround(value / kHertzPerMegahertz));
    return write_clock(slot, mhz >= slot.highest_clock_mhz ? std::nullopt : std::optional<unsigned>(mhz));
}

core::Result<void> NvmlActuator::apply(std::span<const KnobSetting> settings) {
    // Every knob must be ours before anything is written.
    std::vector<std::size_t> targets;
    targets.reserve(settings.size());
    for (const KnobSetting& setting : settings) {
        const auto it = m_index.find(setting.knob);
        if (it == m_index.end()) return core::fail(fmt::format("nvml: unknown knob '{}'", setting.knob));
        targets.push_back(it->second);
    }

    std::vector<Undo> undo;
    undo.reserve(settings.size());
    std::string error;
    for (std::size_t k = 0; k < settings.size(); ++k) {
        const std::size_t index = targets[k];
        Slot& slot = m_slots[index];
        if (auto saved = save_slot(slot); !saved) {
            error = saved.error().message;
            break;
        }
        // What to put back if the batch fails: joulepilot's own last value, or the original (no extra NVML
        // read per write).
        const bool was_changed = is_changed(index);
        Undo step{index, was_changed ? slot.written_mw : slot.original_mw, slot.locked_max_mhz, was_changed};
        if (auto written = write_slot(slot, settings[k].value); !written) {
            error = written.error().message;
            break;
        }
        mark_changed(index);
        undo.push_back(step);
    }
    if (error.empty()) return {};

    // All or nothing: put back what this batch wrote, newest first.
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        Slot& slot = m_slots[it->slot];
        auto undone = slot.kind == Kind::power_limit ? write_power(slot, *it->power_mw)
                                                     : write_clock(slot, it->locked_max_mhz);
        if (!undone) {
            error += "; undoing the batch failed too: " + undone.error().message;
            continue;
        }
        if (slot.kind == Kind::power_limit) slot.written_mw = it->power_mw;
        if (!it->was_changed) unmark_changed(it->slot);
    }
    return core::fail(error);
}

core::Result<void> NvmlActuator::restore() {
    std::string errors;
    const std::vector<std::size_t> order(m_changed.rbegin(), m_changed.rend());  // most recent first
    for (std::size_t index : order) {
        Slot& slot = m_slots[index];
        if (m_gpus[slot.gpu].lost) {
            errors += (errors.empty() ? "" : "; ") + fmt::format("nvml: GPU {}: {}: lost, cannot restore",
                                                                 m_gpus[slot.gpu].index, slot.knob.name);
            continue;
        }
        auto restored = slot.kind == Kind::power_limit ? write_power(slot, *slot.original_mw)
                                                       : write_clock(slot, std::nullopt);
        if (!restored) {
            errors += (errors.empty() ? "" : "; ") + restored.error().message;
            continue;
        }
        unmark_changed(index);
        slot.original_saved = false;
        slot.written_mw.reset();
    }
    if (!errors.empty()) return core::fail(errors);
    return {};
}

std::vector<std::string> NvmlActuator::changed() const {
    std::vector<std::string> names;
    names.reserve(m_changed.size());
    for (std::size_t index : m_changed) names.push_back(m_slots[index].knob.name);
    return names;
}

void NvmlActuator::mark_changed(std::size_t slot) {
    unmark_changed(slot);
    m_changed.push_back(slot);
}

void NvmlActuator::unmark_changed(std::size_t slot) {
    m_changed.erase(std::remove(m_changed.begin(), m_changed.end(), slot), m_changed.end());
}

bool NvmlActuator::is_changed(std::size_t slot) const {
    return std::find(m_changed.begin(), m_changed.end(), slot) != m_changed.end();
}

void NvmlActuator::forget_changes() {
    for (Slot& slot : m_slots) {
        slot.original_saved = false;
        slot.written_mw.reset();
    }
    m_changed.clear();
}

}  // namespace joulepilot::act
