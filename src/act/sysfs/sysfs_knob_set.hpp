#pragma once
// SysfsKnobSet: the save/apply/restore bookkeeping shared by the sysfs actuators (RaplPowerLimitActuator,
// CpufreqActuator). Each knob writes one or more integer attributes below a core::RootedFs root; the knob's
// SI value converts to each attribute's raw unit (W -> uW, Hz -> kHz) and is clamped into that
// attribute's own range (a package-wide cpufreq cap writes each policy within its own limits).
//
// Rules, the same as the NVML actuator's:
//   - every attribute's original is read before its first write (save(), or apply() for a knob save() has
//     not covered), and save() never overwrites the original of a knob changed and not yet restored;
//   - apply() is all-or-nothing per batch: a failed write undoes the writes of the same batch;
//   - a write is read back when the knob asks for it (RAPL): a kernel that keeps another value (a limit
//     locked by the firmware) is an error, not a silent success;
//   - restore() writes back only changed knobs, most recently changed first, and forgets them when back.
// Errors name the actuator, the knob, the full path, the kind (permission denied, ...) and the fix.
//
// Not thread-safe: owned by one actuator on the loop thread. Keeps a reference to the RootedFs, which must
// outlive it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "act/knob.hpp"
#include "core/result.hpp"
#include "core/rooted_fs.hpp"

namespace joulepilot::act {

struct SysfsTarget {
    std::string path;  // relative to the RootedFs root
    // The hardware's limits for this attribute: apply() refuses values outside them and clamps each target
    // into its own (the configured bounds live in the knob's domain, which the shield enforces).
    std::uint64_t min_raw = 0;
    std::uint64_t max_raw = UINT64_MAX;
    // Largest difference between the written and the read-back value that still counts as written (the
    // kernel rounds RAPL limits to the hardware's power unit).
    std::uint64_t readback_tolerance_raw = 0;
};

struct SysfsKnob {
    Knob knob;
    std::vector<SysfsTarget> targets;
    double raw_per_unit = 1.0;  // raw = SI value * raw_per_unit (1e6 for W -> uW, 1e-3 for Hz -> kHz)
    bool verify_readback = false;
    std::string permission_fix;  // appended to permission-denied errors
    // The default is the value found at discovery (a RAPL limit): forget() makes the value now the default.
    bool default_is_found = false;
    // The domain's max is the value found at discovery (no kernel maximum): forget() raises it to the value
    // now, so an original that crash recovery put back stays inside the domain.
    bool ceiling_is_found = false;
};

class SysfsKnobSet {
public:
    // `actuator`: the prefix of error messages ("rapl", "cpufreq").
    SysfsKnobSet(const core::RootedFs& fs, std::string actuator)
        : m_fs(fs), m_actuator(std::move(actuator)) {}
    SysfsKnobSet(const SysfsKnobSet&) = delete;
    SysfsKnobSet& operator=(const SysfsKnobSet&) = delete;

    void add(SysfsKnob knob);
    [[nodiscard]] std::size_t size() const { return m_knobs.size(); }
    // The knobs with their current values, in add() order.
    [[nodiscard]] std::vector<Knob> knobs() const;
    // Current SI value of each knob: the largest of its attributes (the effective cap of a package whose
    // policies differ); the last good value when an attribute cannot be read.
    [[nodiscard]] std::vector<double> current() const;

    core::Result<void> save();
    core::Result<void> apply(std::span<const KnobSetting> settings);
    core::Result<void> restore();
    // Knobs changed and not yet restored, least recently changed first.
    [[nodiscard]] std::vector<std::string> changed() const;
    // Nothing is changed any more: the current values are the baseline (after crash recovery), and the
    // defaults and ceilings that were the values found at discovery become the values now.
    void forget();
    // Puts back what is still changed and logs a failure; for the owner's destructor.
    void restore_on_exit() noexcept;

private:
    struct Entry {
        SysfsKnob spec;
        std::vector<std::uint64_t> original;  // per target, valid when saved
        std::vector<std::uint64_t> written;   // per target, what the last apply wrote, valid when changed
        bool saved = false;
        mutable double last_current = 0;
    };

    [[nodiscard]] core::Result<std::uint64_t> read_raw(const Entry& entry, const SysfsTarget& target) const;
    core::Result<void> write_raw(const Entry& entry, const SysfsTarget& target, std::uint64_t raw) const;
    core::Result<void> save_entry(Entry& entry);
    [[nodiscard]] core::Result<std::vector<std::uint64_t>> read_all(const Entry& entry) const;
    // Writes one raw value per target; on failure puts back the targets already written from `before`.
    core::Result<void> write_all(const Entry& entry, const std::vector<std::uint64_t>& raw,
                                 const std::vector<std::uint64_t>& before);
    [[nodiscard]] std::string describe(const Entry& entry, const core::FileError& error) const;
    void mark_changed(std::size_t index);
    void unmark_changed(std::size_t index);
    [[nodiscard]] bool is_changed(std::size_t index) const;

    const core::RootedFs& m_fs;
    std::string m_actuator;
    std::vector<Entry> m_knobs;
    std::unordered_map<std::string, std::size_t> m_index;
    std::vector<std::size_t> m_changed;
};

}  // namespace joulepilot::act
