#pragma once
// NvmlActuator: the GPU knobs of a node through NVML (loaded at run time through sense::NvmlLibrary; never
// linked). Knobs, per physical GPU <i> (NVML's index), each only where the GPU and library support it:
//   gpu.<i>.power_limit_watts  W   board power limit (nvmlDeviceSetPowerManagementLimit, mW at the edge);
//                                  domain: the device's min..max constraints intersected with the
//                                  configured bounds, in `power_limit_step` steps; default: the board's
//                                  default limit
//   gpu.<i>.sm_clock_cap_hz    Hz  upper end of the locked SM clock range (nvmlDeviceSetGpuLockedClocks
//                                  from the lowest supported clock to the cap, MHz at the edge); domain: the
//                                  supported SM clocks (at the highest memory clock) from the configured
//                                  floor up; the highest one means "not capped" and is written as
//                                  nvmlDeviceResetGpuLockedClocks
//
// Save and restore. NVML can read the power limit back but not the locked clocks, so the original of a
// clock knob is "not locked" and joulepilot remembers what it locked itself: restore resets the clocks of
// the GPUs it capped (a lock someone else set before joulepilot started is not seen, and is cleared by a
// restore of that GPU; docs/actuators.md). Every knob's original is recorded before its first write (by
// save(), or by apply() for a knob save() has not covered), and save() never overwrites the original of a
// knob joulepilot has changed and not yet restored. restore() writes back only the knobs that changed, the
// most recently changed first, and forgets them once they are back.
//
// apply() checks values against the device's own limits (constraints, supported clocks), not the configured
// domain, which the shield clamps into: crash recovery writes originals back through apply(), and an
// original may lie outside the configured bounds. apply() is all-or-nothing per batch: when one write fails, the writes of the same batch that succeeded
// are undone (best effort) and the error names the GPU, the knob, NVML's status and the fix (root or
// CAP_SYS_ADMIN for NO_PERMISSION; disabling the knob for NOT_SUPPORTED; a GPU that answers GPU_IS_LOST is
// not touched again).
//
// MIG: only physical GPUs are enumerated (NVML's device index never names a MIG instance), and a GPU in MIG
// mode gets no knobs at all: its instances may serve other tenants, and a board-wide cap would slow them.
//
// Thread-safety: not thread-safe; owned and called by the loop thread (through the SafetyShield).

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "act/actuator.hpp"
#include "core/config.hpp"
#include "core/units.hpp"
#include "sense/nvml/nvml_abi.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {
class NvmlLibrary;
class NvmlSession;
}  // namespace joulepilot::sense

namespace joulepilot::act {

struct NvmlActuatorOptions {
    // The NVML library to load; empty: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1.
    std::string library_path;
    bool power_limit = true;   // offer gpu.<i>.power_limit_watts
    bool sm_clock_cap = true;  // offer gpu.<i>.sm_clock_cap_hz
    core::Watts power_limit_step{5.0};
    // Configured bounds, intersected with the device's constraints (nullopt: the device's own).
    std::optional<core::Watts> power_limit_min;
    std::optional<core::Watts> power_limit_max;
    // Lowest SM clock cap joulepilot may set (nullopt: the lowest supported clock).
    std::optional<core::Hertz> sm_clock_min;
};

// [act.nvml] (docs/config.md): whether the agent makes this actuator, its options (library_path is not a key
// here: the caller passes the library the NVML sensor uses), and the least time between two changes of
// one knob, which the SafetyShield enforces. Throws core::ConfigError naming the key on a bad value.
struct NvmlActuatorConfig {
    bool enable = true;
    NvmlActuatorOptions options;
    core::Seconds min_interval{10.0};
};
NvmlActuatorConfig read_nvml_actuator_config(const core::ConfigSection& section);

class NvmlActuator final : public Actuator {
public:
    explicit NvmlActuator(NvmlActuatorOptions options = {});
    // Puts back what is still changed (normally restore() ran already and this writes nothing).
    ~NvmlActuator() override;
    NvmlActuator(const NvmlActuator&) = delete;
    NvmlActuator& operator=(const NvmlActuator&) = delete;

    [[nodiscard]] std::string name() const override { return "nvml"; }
    // Loads NVML on the first call and probes every GPU; later calls return the same knobs with their
    // current values. No library, no driver, no GPU: no knobs, and unavailable() says why.
    std::vector<Knob> discover() override;
    [[nodiscard]] std::vector<double> current() const override;
    core::Result<void> save() override;
    core::Result<void> apply(std::span<const KnobSetting> settings) override;
    core::Result<void> restore() override;
    void forget_changes() override;

    // What discovery could not offer and why (for `joulepilot sensors`-style listings).
    [[nodiscard]] const std::vector<sense::Unavailable>& unavailable() const { return m_unavailable; }
    [[nodiscard]] bool available() const { return m_session != nullptr; }
    [[nodiscard]] const std::string& library_path() const { return m_library_path; }
    // Knobs changed and not yet restored, least recently changed first.
    [[nodiscard]] std::vector<std::string> changed() const;

private:
    enum class Kind { power_limit, sm_clock_cap };
    struct Gpu {
        unsigned index = 0;
        sense::nvml_abi::Device handle = nullptr;
        std::string name;
        bool lost = false;
    };
    struct Slot {
        Kind kind = Kind::power_limit;
        std::size_t gpu = 0;  // index in m_gpus
        Knob knob;
        bool unsupported = false;             // the driver answered NOT_SUPPORTED to a write
        std::optional<unsigned> original_mw;  // power: the limit found before the first write
        std::optional<unsigned> written_mw;   // power: joulepilot's last write, while changed
        bool original_saved = false;
        unsigned device_min_mw = 0;  // power: the device's constraints (apply() checks these; the shield
        unsigned device_max_mw = 0;  // clamps into the configured domain)
        std::vector<unsigned> supported_mhz;  // clock: every supported SM clock, ascending
        unsigned lowest_clock_mhz = 0;        // clock: lower end of every lock
        unsigned highest_clock_mhz = 0;
        std::optional<unsigned> locked_max_mhz;  // clock: what joulepilot locked (nullopt: not locked)
        mutable double last_current = 0;         // power: last good read, when a read fails
    };
    // A knob's state before a write, to undo a failed batch.
    struct Undo {
        std::size_t slot = 0;
        std::optional<unsigned> power_mw;
        std::optional<unsigned> locked_max_mhz;
        bool was_changed = false;
    };

    void open();
    void probe_gpu(Gpu& gpu, std::size_t gpu_slot);
    void add_unavailable(const Gpu& gpu, std::string what, std::string reason, std::string fix = {});
    core::Result<void> save_slot(Slot& slot);
    core::Result<void> write_slot(Slot& slot, double value);
    core::Result<void> write_power(Slot& slot, unsigned limit_mw);
    core::Result<void> write_clock(Slot& slot, std::optional<unsigned> max_mhz);
    core::Result<unsigned> read_power_mw(const Slot& slot) const;
    [[nodiscard]] std::string failure(const Slot& slot, const std::string& what,
                                      sense::nvml_abi::Return status) const;
    void mark_changed(std::size_t slot);
    void unmark_changed(std::size_t slot);
    [[nodiscard]] bool is_changed(std::size_t slot) const;

    NvmlActuatorOptions m_options;
    std::string m_library_path;
    bool m_opened = false;
    // Destroyed in reverse order: the session shuts NVML down before the library is unloaded.
    std::unique_ptr<sense::NvmlLibrary> m_library;
    std::unique_ptr<sense::NvmlSession> m_session;
    std::vector<Gpu> m_gpus;
    std::vector<Slot> m_slots;
    std::unordered_map<std::string, std::size_t> m_index;
    std::vector<std::size_t> m_changed;  // slots changed and not restored, least recent first
    std::vector<sense::Unavailable> m_unavailable;
};

}  // namespace joulepilot::act
