#pragma once
// NvmlSensor: NVIDIA GPUs through NVML, loaded at run time (never linked), SI values out.
//
// Signals, per physical GPU <i> (NVML's index), each present only where the GPU supports it:
//   gpu.<i>.energy_joules_total       J      total since discovery, from the mJ energy counter (Volta+)
//   gpu.<i>.power_watts               W      instant board power (field 186) where available, else
//                                            NVML's power usage (about a 1 s average on recent GPUs)
//   gpu.<i>.utilization_ratio         ratio  time a kernel ran over NVML's last sample period
//   gpu.<i>.memory_utilization_ratio  ratio  time device memory was read or written, same period
//   gpu.<i>.temperature_celsius       degC   GPU die
//   gpu.<i>.sm_clock_hz               Hz     current SM clock
//   gpu.<i>.memory_clock_hz           Hz     current memory clock
//   gpu.<i>.power_limit_watts         W      enforced power limit (management limit when the enforced one
//                                            cannot be read)
//   gpu.<i>.power_limit_min_watts     W      lowest settable power limit (read once: fixed by the board)
//   gpu.<i>.power_limit_max_watts     W      highest settable power limit (same)
// All are `measured`, except energy in full mode with an energy read interval (the default): reading the
// energy counter is expensive (one nvmlDeviceGetTotalEnergyConsumption costs ~3.4 ms of CPU on an H100 with
// driver 580, against ~1 us for the power reading; data/measured/README.md), so full mode reads it at most
// every `energy_read_interval` (at the read nearest that time), and in between reports the last counter
// value plus the power integrated since (trapezoids over this sensor's power samples). Each counter read
// re-anchors the total to the counter exactly, so over a run nothing is lost or counted twice: the counter
// stays the truth and the integral only fills the gaps between its reads. The signal is then labelled
// `derived` (energy_read_was_derived() says which reads were derived). The total never decreases: if the
// integral ran ahead of the counter, the total holds at its last value until the counter passes it. With
// no power reading (unsupported, or failed this tick) the counter is read instead. energy_only mode and an
// interval of 0 read the counter on every read (`measured`).
// MIG: only physical GPUs are enumerated (NVML's device index never names a MIG
// instance), so a GPU split into instances contributes its energy once.
//
// Capabilities are probed once, in discover(): a function that answers NOT_SUPPORTED (or is missing from
// the library) leaves its signal out and adds an Unavailable entry; read() never calls it again.
// read() failures: a call that fails leaves its sample missing and is counted; a GPU that answers
// GPU_IS_LOST is marked lost, all its samples stay missing from then on and it is no longer called; the
// other GPUs keep working. read() returns an error only when every GPU failed.
// No library, no driver, no GPU: discover() returns no signals and unavailable() says why; nothing throws.
//
// Thread-safety: not thread-safe. One owner calls discover/read/process_usage (the loop thread, or the
// C API's meter under its lock). NVML itself is thread-safe, so other NVML users in the process are fine.

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/units.hpp"
#include "sense/nvml/gpu_energy_counter.hpp"
#include "sense/nvml/nvml_abi.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

class NvmlLibrary;
class NvmlSession;

struct NvmlSensorOptions {
    // The NVML library to load; empty: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1.
    std::string library_path;
    // Offer only gpu.<i>.energy_joules_total: one NVML call per GPU per read, for callers that only meter
    // energy (the C API's windows). Nothing else is probed either.
    bool energy_only = false;
    // Full mode: least time between two reads of the energy counter (see the header comment); 0: every
    // read. Ignored with energy_only (which meters windows and needs the counter at every edge).
    core::Seconds energy_read_interval{5.0};
};

// What discovery learned about one physical GPU.
struct NvmlGpuInfo {
    unsigned index = 0;  // NVML device index, the <i> in signal names
    std::string name;    // "NVIDIA H100 80GB HBM3"; empty when NVML could not say
    std::string uuid;    // "GPU-5a1c..."; empty when NVML could not say
    bool mig_enabled = false;
    bool power_instant = false;  // power_watts is the instant field (else NVML's averaged power usage)
    bool lost = false;           // answered GPU_IS_LOST; no longer read
};

// One process's use of one GPU since the previous process_usage() call, for energy attribution.
struct GpuProcessUsage {
    unsigned gpu = 0;  // NVML device index
    std::uint32_t pid = 0;
    // Mean SM and memory utilisation of this process over NVML's samples (0..1); nullopt when NVML has
    // no per-process utilisation for this GPU (unsupported, MIG) or no sample for this process.
    std::optional<double> sm_utilization;
    std::optional<double> memory_utilization;
    // This process's part of the SM time all processes on this GPU used (0..1; the shares of one GPU sum
    // to 1 when any process was busy, all 0 when none was); nullopt with sm_utilization.
    std::optional<double> sm_share;
    std::optional<std::uint64_t> used_memory_bytes;  // from the running-process list
    std::optional<unsigned> gpu_instance_id;         // MIG instance the process runs in
    std::optional<unsigned> compute_instance_id;
};

class NvmlSensor final : public Sensor {
public:
    // Times for the integrated energy come from `clock` (it must outlive the sensor); the first form uses
    // a system clock of its own.
    explicit NvmlSensor(NvmlSensorOptions options = {});
    NvmlSensor(NvmlSensorOptions options, const core::Clock& clock);
    ~NvmlSensor() override;
    NvmlSensor(const NvmlSensor&) = delete;
    NvmlSensor& operator=(const NvmlSensor&) = delete;

    [[nodiscard]] std::string name() const override { return "nvml"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    // After discover(): whether NVML was loaded and initialised, and the GPUs it offered.
    [[nodiscard]] bool available() const { return m_session != nullptr; }
    [[nodiscard]] std::vector<NvmlGpuInfo> gpus() const;
    // The library path that was tried (after the option/environment/default resolution).
    [[nodiscard]] const std::string& library_path() const { return m_library_path; }

    // Per-process GPU use since the previous call (the first call covers what NVML still buffers).
    // Fails only when NVML is not available; a GPU whose calls fail is left out and counted.
    core::Result<std::vector<GpuProcessUsage>> process_usage();

    // Whether the latest read() reported GPU `index`'s energy as counter + integrated power (true) rather
    // than a counter value (false; also for an unknown index).
    [[nodiscard]] bool energy_read_was_derived(unsigned index) const;
    // Energy counter reads since discovery (NVML calls that succeeded), all GPUs together.
    [[nodiscard]] std::uint64_t energy_counter_reads() const { return m_energy_counter_reads; }

    // Failed NVML calls after discovery (reads and process_usage), all GPUs together.
    [[nodiscard]] std::uint64_t read_errors() const { return m_read_errors; }
    // Energy counter backward steps and resets (see GpuEnergyCounter), all GPUs together.
    [[nodiscard]] std::uint64_t energy_backward_steps() const;
    [[nodiscard]] std::uint64_t energy_counter_resets() const;
    // The latest read error, naming the call and the GPU; empty when there was none.
    [[nodiscard]] const std::string& last_error() const { return m_last_error; }

private:
    // One bit per signal in the per-GPU validity mask; the order is the order of the signals.
    enum Field : std::size_t {
        kEnergy,
        kPower,
        kUtilization,
        kMemoryUtilization,
        kTemperature,
        kSmClock,
        kMemoryClock,
        kPowerLimit,
        kPowerLimitMin,
        kPowerLimitMax,
        kFieldCount
    };

    struct Gpu {
        NvmlGpuInfo info;
        nvml_abi::Device handle = nullptr;
        std::bitset<kFieldCount> supported;           // set once at discovery
        std::array<std::size_t, kFieldCount> slot{};  // index in read()'s span, valid where supported
        bool power_limit_enforced = false;            // limit from nvmlDeviceGetEnforcedPowerLimit
        std::optional<GpuEnergyCounter> energy;       // empty until the first good energy reading
        double power_limit_min_watts = 0.0;           // constraints, read once
        double power_limit_max_watts = 0.0;
        bool running_processes_supported = false;
        bool process_utilization_supported = false;
        unsigned long long last_process_sample_us = 0;  // newest per-process sample already returned
        // Full mode, between energy counter reads (see the header comment). Seconds from the clock.
        double counter_time_s = 0.0;         // of the latest good counter read
        double integrated_j = 0.0;           // power integrated since then
        std::optional<double> last_power_w;  // the previous good power reading...
        double last_power_time_s = 0.0;      // ...and when it was taken
        double last_read_time_s = 0.0;       // previous read(), for the tick length
        double reported_j = 0.0;             // the total last reported (never decreases)
        bool energy_derived = false;         // the latest reported energy was integrated
    };

    void probe_gpu(Gpu& gpu);
    void add_gpu_signals(Gpu& gpu, std::vector<SignalInfo>& signals);
    static void add_signal(Gpu& gpu, Field field, std::vector<SignalInfo>& signals, std::string suffix,
                           std::string unit, std::string description);
    void mark_unsupported(const Gpu& gpu, std::string what, nvml_abi::Return status);
    // Counts a failed call and marks the GPU lost on GPU_IS_LOST. Returns true on success.
    bool check(Gpu& gpu, nvml_abi::Return status, const char* call);
    // Returns false when the GPU was lost or every call made for it failed.
    bool read_gpu(Gpu& gpu, std::span<Sample> samples, double now_s);
    // The energy sample of one read: the counter when due (or when nothing else will do), else the last
    // counter value plus integrated power. `power_w` is this read's power, if any.
    void read_energy(Gpu& gpu, std::span<Sample> samples, double now_s, std::optional<double> power_w,
                     unsigned& calls);
    [[nodiscard]] bool interpolates_energy(const Gpu& gpu) const;
    void read_processes(Gpu& gpu, std::vector<GpuProcessUsage>& out);
    void close();

    NvmlSensorOptions m_options;
    std::unique_ptr<core::SystemClock> m_own_clock;  // only when no clock was given
    const core::Clock& m_clock;
    std::string m_library_path;
    // Declaration order is destruction order in reverse: the session shuts NVML down before the library
    // is unloaded.
    std::unique_ptr<NvmlLibrary> m_library;
    std::unique_ptr<NvmlSession> m_session;
    std::vector<Gpu> m_gpus;
    std::vector<Unavailable> m_unavailable;
    std::size_t m_signal_count = 0;
    std::uint64_t m_read_errors = 0;
    std::uint64_t m_energy_counter_reads = 0;
    std::string m_last_error;
    // Reused between calls so a steady-state process_usage() does not allocate.
    std::vector<nvml_abi::ProcessInfoV2> m_process_buffer;
    std::vector<nvml_abi::ProcessInfoV1> m_process_buffer_v1;
    std::vector<nvml_abi::ProcessUtilizationSample> m_utilization_buffer;
};

}  // namespace joulepilot::sense
