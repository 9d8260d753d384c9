#pragma once
// FakeNvmlSetup: the benchmarks' handle on the fake NVML library (tests/fakes/nvml). It loads the file the
// sensor or actuator under test will load, so both see one copy of the fake's state, resets it and applies
// `directives`; keep it alive for the whole benchmark so the state outlives their dlclose. Used by
// bench/nvml_bench.cpp and bench/act_bench.cpp. A fake that cannot be loaded, or rejects a directive, ends
// the benchmark with a message: its numbers would mean nothing.

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#ifndef JOULEPILOT_FAKE_NVML
#error "JOULEPILOT_FAKE_NVML (path of the fake libnvidia-ml) must be defined by the build"
#endif

namespace joulepilot::bench {

class FakeNvmlSetup {
public:
    explicit FakeNvmlSetup(const char* directives)
        : m_handle(::dlopen(JOULEPILOT_FAKE_NVML, RTLD_NOW | RTLD_LOCAL)) {
        if (m_handle == nullptr) {
            std::fprintf(stderr, "bench: cannot load %s: %s\n", JOULEPILOT_FAKE_NVML, ::dlerror());
            std::exit(1);
        }
        auto* reset = reinterpret_cast<void (*)()>(symbol("jp_fake_nvml_reset"));
        auto* apply = reinterpret_cast<int (*)(const char*)>(symbol("jp_fake_nvml_apply"));
        reset();
        if (const int bad_line = apply(directives); bad_line != 0) {
            std::fprintf(stderr, "bench: the fake NVML rejected line %d of:\n%s\n", bad_line, directives);
            std::exit(1);
        }
    }
    ~FakeNvmlSetup() { ::dlclose(m_handle); }
    FakeNvmlSetup(const FakeNvmlSetup&) = delete;
    FakeNvmlSetup& operator=(const FakeNvmlSetup&) = delete;

private:
    void* symbol(const char* name) const {
        void* found = ::dlsym(m_handle, name);
        if (found == nullptr) {
            std::fprintf(stderr, "bench: %s lacks %s (not the fake NVML?)\n", JOULEPILOT_FAKE_NVML, name);
            std::exit(1);
        }
        return found;
    }

    void* m_handle;
};

}  // namespace joulepilot::bench
