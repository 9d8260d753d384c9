#pragma once
// Test-side handle on the fake NVML library (tests/fakes/nvml): loads the same file the sensor will load,
// so both see one copy of the fake's state, and exposes its jp_fake_nvml_* controls. Constructing one resets
// the fake; keep it alive for the whole test so the state survives the sensor's dlclose.

#include <dlfcn.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef JOULEPILOT_FAKE_NVML
#error "JOULEPILOT_FAKE_NVML (path of the fake libnvidia-ml) must be defined by the build"
#endif

namespace joulepilot::testing {

inline constexpr const char* kFakeNvml = JOULEPILOT_FAKE_NVML;
inline constexpr const char* kFakeNvmlNoV3 = JOULEPILOT_FAKE_NVML_NOV3;

class FakeNvml {
public:
    explicit FakeNvml(std::string path = kFakeNvml) : m_path(std::move(path)) {
        m_handle = ::dlopen(m_path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (m_handle == nullptr)
            throw std::runtime_error("cannot load the fake NVML: " + std::string(::dlerror()));
        m_reset = symbol<void (*)()>("jp_fake_nvml_reset");
        m_apply = symbol<int (*)(const char*)>("jp_fake_nvml_apply");
        m_call_count = symbol<unsigned long long (*)(const char*)>("jp_fake_nvml_call_count");
        m_device_value = symbol<long long (*)(unsigned, const char*)>("jp_fake_nvml_device_value");
        m_reset();
    }
    ~FakeNvml() { ::dlclose(m_handle); }
    FakeNvml(const FakeNvml&) = delete;
    FakeNvml& operator=(const FakeNvml&) = delete;

    [[nodiscard]] const std::string& path() const { return m_path; }

    // Applies state directives; throws naming the line the fake rejected.
    void apply(const std::string& directives) const {
        if (const int bad_line = m_apply(directives.c_str()); bad_line != 0) {
            throw std::runtime_error("fake NVML rejected line " + std::to_string(bad_line) + " of:\n" +
                                     directives);
        }
    }
    [[nodiscard]] unsigned long long calls(const char* symbol_name) const {
        return m_call_count(symbol_name);
    }
    [[nodiscard]] long long device_value(unsigned device, const char* key) const {
        return m_device_value(device, key);
    }

private:
    template <class Fn>
    Fn symbol(const char* name) const {
        void* s = ::dlsym(m_handle, name);
        if (s == nullptr) throw std::runtime_error(std::string("fake NVML lacks ") + name);
        return reinterpret_cast<Fn>(s);
    }

    std::string m_path;
    void* m_handle = nullptr;
    void (*m_reset)() = nullptr;
    int (*m_apply)(const char*) = nullptr;
    unsigned long long (*m_call_count)(const char*) = nullptr;
    long long (*m_device_value)(unsigned, const char*) = nullptr;
};

}  // namespace joulepilot::testing
