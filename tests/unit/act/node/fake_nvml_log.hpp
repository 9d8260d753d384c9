#pragma once
// Test-side reader of the fake NVML library's set log (tests/fakes/nvml): every successful
// nvmlDeviceSetPowerManagementLimit / nvmlDeviceSetGpuLockedClocks / nvmlDeviceResetGpuLockedClocks, in call
// order, as "SYMBOL DEVICE VALUES..." (mW, MHz). Loads the same file as FakeNvml (one copy of the fake's
// state); construct it after the FakeNvml, which resets the log.

#include <dlfcn.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::testing {

class FakeNvmlLog {
public:
    explicit FakeNvmlLog(const std::string& path = kFakeNvml) {
        m_handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (m_handle == nullptr)
            throw std::runtime_error("cannot load the fake NVML: " + std::string(::dlerror()));
        m_size = reinterpret_cast<unsigned (*)()>(::dlsym(m_handle, "jp_fake_nvml_set_log_size"));
        m_entry = reinterpret_cast<int (*)(unsigned, char*, unsigned)>(
            ::dlsym(m_handle, "jp_fake_nvml_set_log_entry"));
        if (m_size == nullptr || m_entry == nullptr) throw std::runtime_error("fake NVML lacks the set log");
    }
    ~FakeNvmlLog() { ::dlclose(m_handle); }
    FakeNvmlLog(const FakeNvmlLog&) = delete;
    FakeNvmlLog& operator=(const FakeNvmlLog&) = delete;

    [[nodiscard]] std::vector<std::string> entries() const {
        std::vector<std::string> out;
        const unsigned n = m_size();
        for (unsigned i = 0; i < n; ++i) {
            std::array<char, 256> buffer{};
            if (m_entry(i, buffer.data(), buffer.size()) == 0) out.emplace_back(buffer.data());
        }
        return out;
    }
    // Entries from `first` on (what a step of a test added).
    [[nodiscard]] std::vector<std::string> since(std::size_t first) const {
        auto all = entries();
        if (first >= all.size()) return {};
        return {all.begin() + static_cast<std::ptrdiff_t>(first), all.end()};
    }
    [[nodiscard]] std::size_t size() const { return m_size(); }

private:
    void* m_handle = nullptr;
    unsigned (*m_size)() = nullptr;
    int (*m_entry)(unsigned, char*, unsigned) = nullptr;
};

}  // namespace joulepilot::testing
