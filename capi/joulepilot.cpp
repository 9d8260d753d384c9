// The C API (joulepilot.h) over EnergyMeter. Every entry point catches what C++ could throw and turns it
// into a status and this thread's last-error message: nothing unwinds into C (or Python) frames.

#include "joulepilot.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/rooted_fs.hpp"
#include "energy_meter.hpp"
#include "sense/nvml/nvml_sensor.hpp"
#include "sense/rapl/rapl_sensor.hpp"

namespace joulepilot::capi {
namespace {

// Window durations come from the steady clock (seconds since the meter opened): wall-clock steps (NTP)
// must not stretch or shrink a window.
class MonotonicClock final : public core::Clock {
public:
    [[nodiscard]] core::Seconds now() const override {
        return core::Seconds(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count());
    }
    void sleep_until(core::Seconds /*t*/) override {}  // the meter never sleeps

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

// Where sysfs is read from for RAPL: $JOULEPILOT_SYSFS_ROOT (fixture trees in tests, a host /sys mounted
// elsewhere in a container), else "/".
constexpr const char* kSysfsRootEnv = "JOULEPILOT_SYSFS_ROOT";

std::filesystem::path sysfs_root() {
    const char* root = std::getenv(kSysfsRootEnv);
    return root != nullptr && *root != '\0' ? std::filesystem::path(root) : std::filesystem::path("/");
}

thread_local std::string t_last_error;

joulepilot_status fail(joulepilot_status status, std::string message) {
    t_last_error = std::move(message);
    return status;
}

joulepilot_status fail(const WindowError& error) {
    switch (error.kind) {
        case WindowErrorKind::not_found:
            return fail(JOULEPILOT_ERROR_NOT_FOUND, "joulepilot: " + error.message);
        case WindowErrorKind::already_ended:
            return fail(JOULEPILOT_ERROR_STATE, "joulepilot: " + error.message);
        case WindowErrorKind::limit:
            return fail(JOULEPILOT_ERROR_LIMIT, "joulepilot: " + error.message);
    }
    return fail(JOULEPILOT_ERROR_INTERNAL, "joulepilot: " + error.message);
}

joulepilot_status ok() {
    t_last_error.clear();
    return JOULEPILOT_OK;
}

// Runs `body`, turning an escaping exception into JOULEPILOT_ERROR_INTERNAL with its message.
template <class Body>
joulepilot_status guarded(const char* function, Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        return fail(JOULEPILOT_ERROR_INTERNAL, fmt::format("joulepilot: {}: {}", function, e.what()));
    } catch (...) {
        return fail(JOULEPILOT_ERROR_INTERNAL, fmt::format("joulepilot: {}: unknown exception", function));
    }
}

}  // namespace
}  // namespace joulepilot::capi

struct joulepilot_meter {
    joulepilot::capi::MonotonicClock clock;
    // The filesystem root RAPL reads below; declared before the meter, whose sensors hold a reference.
    std::unique_ptr<joulepilot::core::RootedFs> fs;
    std::unique_ptr<joulepilot::capi::EnergyMeter> meter;
    // C strings handed out by the domain and unavailable getters; fixed once the meter is open.
    std::vector<std::string> domain_names;
    std::vector<std::string> unavailable;
};

using joulepilot::capi::fail;
using joulepilot::capi::guarded;
using joulepilot::capi::ok;

extern "C" {

uint32_t joulepilot_api_version(void) { return JOULEPILOT_API_VERSION; }

const char* joulepilot_version(void) { return JOULEPILOT_VERSION; }

void joulepilot_meter_options_init(joulepilot_meter_options* options) {
    if (options == nullptr) return;
    *options = joulepilot_meter_options{};
    options->struct_size = sizeof(joulepilot_meter_options);
    options->api_version = JOULEPILOT_API_VERSION;
    options->domains = JOULEPILOT_DOMAIN_ALL;
    options->allow_empty = 0;
    options->nvml_library = nullptr;
}

joulepilot_status joulepilot_meter_open(const joulepilot_meter_options* options, joulepilot_meter** meter) {
    return guarded("meter_open", [&] {
        if (meter == nullptr)
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT, "joulepilot: meter_open: meter is NULL");
        *meter = nullptr;
        joulepilot_meter_options opts;
        joulepilot_meter_options_init(&opts);
        if (options != nullptr) {
            if (options->api_version != JOULEPILOT_API_VERSION) {
                return fail(JOULEPILOT_ERROR_VERSION,
                            fmt::format("joulepilot: meter_open: options for API version {}, library has {}",
                                        options->api_version, JOULEPILOT_API_VERSION));
            }
            // Only the fields the caller's header had: an older, shorter struct keeps our defaults for the
            // rest.
            if (options->struct_size <
                offsetof(joulepilot_meter_options, nvml_library) + sizeof(const char*)) {
                return fail(JOULEPILOT_ERROR_VERSION,
                            fmt::format("joulepilot: meter_open: options struct_size {} is too small",
                                        options->struct_size));
            }
            opts.domains = options->domains;
            opts.allow_empty = options->allow_empty;
            opts.nvml_library = options->nvml_library;
        }

        // Sensors per requested domain; the handle owns the clock and filesystem root they hold.
        auto handle = std::make_unique<joulepilot_meter>();
        std::vector<std::unique_ptr<joulepilot::sense::Sensor>> sensors;
        if ((opts.domains & JOULEPILOT_DOMAIN_GPU) != 0) {
            joulepilot::sense::NvmlSensorOptions nvml;
            nvml.library_path = opts.nvml_library != nullptr ? opts.nvml_library : "";
            nvml.energy_only = true;
            sensors.push_back(std::make_unique<joulepilot::sense::NvmlSensor>(std::move(nvml)));
        }
        // After the GPUs, so GPU domains keep the indices they had before CPU domains existed.
        if ((opts.domains & JOULEPILOT_DOMAIN_CPU) != 0) {
            handle->fs = std::make_unique<joulepilot::core::RootedFs>(joulepilot::capi::sysfs_root());
            sensors.push_back(std::make_unique<joulepilot::sense::RaplSensor>(*handle->fs, handle->clock));
        }
        handle->meter = std::make_unique<joulepilot::capi::EnergyMeter>(std::move(sensors), handle->clock);
        for (const auto& domain : handle->meter->domains()) handle->domain_names.push_back(domain.name);
        for (const auto& entry : handle->meter->unavailable()) {
            handle->unavailable.push_back(
                entry.fix.empty() ? fmt::format("{}: {}", entry.what, entry.reason)
                                  : fmt::format("{}: {} ({})", entry.what, entry.reason, entry.fix));
        }
        if (handle->domain_names.empty() && opts.allow_empty == 0) {
            std::string why;
            for (const std::string& entry : handle->unavailable) why += (why.empty() ? "" : "; ") + entry;
            return fail(JOULEPILOT_ERROR_NO_DOMAINS,
                        fmt::format("joulepilot: meter_open: nothing to measure: {}",
                                    why.empty() ? "no sensor" : why));
        }
        *meter = handle.release();
        return ok();
    });
}

void joulepilot_meter_close(joulepilot_meter* meter) { delete meter; }

size_t joulepilot_meter_domain_count(const joulepilot_meter* meter) {
    return meter != nullptr ? meter->domain_names.size() : 0;
}

const char* joulepilot_meter_domain_name(const joulepilot_meter* meter, size_t index) {
    if (meter == nullptr || index >= meter->domain_names.size()) return nullptr;
    return meter->domain_names[index].c_str();
}

size_t joulepilot_meter_unavailable_count(const joulepilot_meter* meter) {
    return meter != nullptr ? meter->unavailable.size() : 0;
}

const char* joulepilot_meter_unavailable(const joulepilot_meter* meter, size_t index) {
    if (meter == nullptr || index >= meter->unavailable.size()) return nullptr;
    return meter->unavailable[index].c_str();
}

joulepilot_status joulepilot_window_begin(joulepilot_meter* meter, const char* name,
                                          joulepilot_window* window) {
    return guarded("window_begin", [&] {
        if (meter == nullptr || window == nullptr) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT,
                        "joulepilot: window_begin: meter or window is NULL");
        }
        auto id = meter->meter->begin(name != nullptr ? name : "");
        if (!id) return fail(id.error());
        *window = *id;
        return ok();
    });
}

joulepilot_status joulepilot_window_end(joulepilot_meter* meter, joulepilot_window window) {
    return guarded("window_end", [&] {
        if (meter == nullptr)
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT, "joulepilot: window_end: meter is NULL");
        auto ended = meter->meter->end(window);
        return ended ? ok() : fail(ended.error());
    });
}

joulepilot_status joulepilot_window_read(joulepilot_meter* meter, joulepilot_window window, double* joules,
                                         size_t count, double* seconds) {
    return guarded("window_read", [&] {
        if (meter == nullptr || (joules == nullptr && count > 0)) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT,
                        "joulepilot: window_read: meter or joules is NULL");
        }
        auto reading = meter->meter->reading(window);
        if (!reading) return fail(reading.error());
        if (seconds != nullptr) *seconds = reading->duration.value();
        std::string missing;
        for (size_t d = 0; d < count && d < reading->joules.size(); ++d) {
            const auto& value = reading->joules[d];
            joules[d] = value ? value->value() : std::numeric_limits<double>::quiet_NaN();
            if (!value) missing += (missing.empty() ? "" : ", ") + meter->domain_names[d];
        }
        if (!missing.empty()) {
            return fail(
                JOULEPILOT_ERROR_MISSING,
                fmt::format("joulepilot: window '{}': counter unreadable for {}", reading->name, missing));
        }
        return ok();
    });
}

joulepilot_status joulepilot_window_joules(joulepilot_meter* meter, joulepilot_window window, size_t domain,
                                           double* joules) {
    return guarded("window_joules", [&] {
        if (meter == nullptr || joules == nullptr) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT,
                        "joulepilot: window_joules: meter or joules is NULL");
        }
        if (domain >= meter->domain_names.size()) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT,
                        fmt::format("joulepilot: window_joules: domain {} out of range ({} domains)", domain,
                                    meter->domain_names.size()));
        }
        auto reading = meter->meter->reading(window);
        if (!reading) return fail(reading.error());
        const auto& value = reading->joules[domain];
        if (!value) {
            return fail(JOULEPILOT_ERROR_MISSING,
                        fmt::format("joulepilot: window '{}': counter unreadable for {}", reading->name,
                                    meter->domain_names[domain]));
        }
        *joules = value->value();
        return ok();
    });
}

joulepilot_status joulepilot_window_seconds(joulepilot_meter* meter, joulepilot_window window,
                                            double* seconds) {
    return guarded("window_seconds", [&] {
        if (meter == nullptr || seconds == nullptr) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT,
                        "joulepilot: window_seconds: meter or seconds is NULL");
        }
        auto reading = meter->meter->reading(window);
        if (!reading) return fail(reading.error());
        *seconds = reading->duration.value();
        return ok();
    });
}

joulepilot_status joulepilot_window_release(joulepilot_meter* meter, joulepilot_window window) {
    return guarded("window_release", [&] {
        if (meter == nullptr) {
            return fail(JOULEPILOT_ERROR_INVALID_ARGUMENT, "joulepilot: window_release: meter is NULL");
        }
        auto released = meter->meter->release(window);
        return released ? ok() : fail(released.error());
    });
}

const char* joulepilot_last_error(void) { return joulepilot::capi::t_last_error.c_str(); }

}  // extern "C"
