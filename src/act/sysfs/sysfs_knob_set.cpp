#include "act/sysfs/sysfs_knob_set.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "act/sysfs/sysfs_attribute.hpp"

namespace joulepilot::act {

void SysfsKnobSet::add(SysfsKnob knob) {
    m_index.emplace(knob.knob.name, m_knobs.size());
    Entry entry{std::move(knob), {}, {}, false, 0};
    entry.last_current = entry.spec.knob.current;
    m_knobs.push_back(std::move(entry));
}

std::vector<Knob> SysfsKnobSet::knobs() const {
    std::vector<Knob> out;
    out.reserve(m_knobs.size());
    const std::vector<double> values = current();
    for (std::size_t i = 0; i < m_knobs.size(); ++i) {
        out.push_back(m_knobs[i].spec.knob);
        out.back().current = values[i];
    }
    return out;
}

std::string SysfsKnobSet::describe(const Entry& entry, const core::FileError& error) const {
    std::string message = fmt::format("{}: {}: {}", m_actuator, entry.spec.knob.name, error.message);
    if (error.kind == core::FileErrorKind::permission_denied && !entry.spec.permission_fix.empty()) {
        message += "; " + entry.spec.permission_fix;
    }
    return message;
}

core::Result<std::uint64_t> SysfsKnobSet::read_raw(const Entry& entry, const SysfsTarget& target) const {
    auto raw = m_fs.read_u64(target.path);
    if (!raw) return core::fail(describe(entry, raw.error()));
    return *raw;
}

core::Result<void> SysfsKnobSet::write_raw(const Entry& entry, const SysfsTarget& target,
                                           std::uint64_t raw) const {
    if (auto written = write_sysfs_u64(m_fs, target.path, raw); !written) {
        return core::fail(describe(entry, written.error()));
    }
    if (!entry.spec.verify_readback) return {};
    auto back = read_raw(entry, target);
    if (!back) return tl::unexpected(back.error());
    const std::uint64_t difference = *back > raw ? *back - raw : raw - *back;
    if (difference > target.readback_tolerance_raw) {
        return core::fail(
            fmt::format("{}: {}: wrote {} to {} but the kernel kept {}: the limit is probably locked "
                        "by the firmware (BIOS power-limit lock)",
                        m_actuator, entry.spec.knob.name, raw, m_fs.full_path(target.path), *back));
    }
    return {};
}

core::Result<std::vector<std::uint64_t>> SysfsKnobSet::read_all(const Entry& entry) const {
    std::vector<std::uint64_t> values;
    values.reserve(entry.spec.targets.size());
    for (const SysfsTarget& target : entry.spec.targets) {
        auto raw = read_raw(entry, target);
        if (!raw) return tl::unexpected(raw.error());
        values.push_back(*raw);
    }
    return values;
}

std::vector<double> SysfsKnobSet::current() const {
    std::vector<double> values;
    values.reserve(m_knobs.size());
    for (const Entry& entry : m_knobs) {
        double highest = -1;
        for (const SysfsTarget& target : entry.spec.targets) {
            if (auto raw = m_fs.read_u64(target.path)) {
                highest = std::max(highest, static_cast<double>(*raw) / entry.spec.raw_per_unit);
            }
        }
        if (highest >= 0) entry.last_current = highest;
        values.push_back(entry.last_current);
    }
    return values;
}

core::Result<void> SysfsKnobSet::save_entry(Entry& entry) {
    if (entry.saved) return {};
    auto values = read_all(entry);
    if (!values) return tl::unexpected(values.error());
    entry.original = std::move(*values);
    entry.saved = true;
    return {};
}

core::Result<void> SysfsKnobSet::save() {
    std::string errors;
    for (std::size_t i = 0; i < m_knobs.size(); ++i) {
        if (is_changed(i)) continue;  // its original is what joulepilot found, not what it wrote
        m_knobs[i].saved = false;
        if (auto saved = save_entry(m_knobs[i]); !saved) {
            errors += (errors.empty() ? "" : "; ") + saved.error().message;
        }
    }
    if (!errors.empty()) return core::fail(errors);
    return {};
}

core::Result<void> SysfsKnobSet::write_all(const Entry& entry, const std::vector<std::uint64_t>& raw,
                                           const std::vector<std::uint64_t>& before) {
    const auto& targets = entry.spec.targets;
    for (std::size_t t = 0; t < targets.size(); ++t) {
        if (auto written = write_raw(entry, targets[t], raw[t]); !written) {
            std::string error = written.error().message;
            for (std::size_t u = t; u-- > 0;) {
                if (auto undone = write_raw(entry, targets[u], before[u]); !undone) {
                    error += "; undoing failed too: " + undone.error().message;
                }
            }
            return core::fail(error);
        }
    }
    return {};
}

core::Result<void> SysfsKnobSet::apply(std::span<const KnobSetting> settings) {
    std::vector<std::size_t> targets;
    targets.reserve(settings.size());
    for (const KnobSetting& setting : settings) {
        const auto it = m_index.find(setting.knob);
        if (it == m_index.end())
            return core::fail(fmt::format("{}: unknown knob '{}'", m_actuator, setting.knob));
        // The hardware's range, not the configured domain: the shield clamps into the domain, and crash
        // recovery puts back originals that may lie outside what joulepilot itself may choose.
        const SysfsKnob& spec = m_knobs[it->second].spec;
        double lo = std::numeric_limits<double>::max();
        double hi = 0;
        for (const SysfsTarget& target : spec.targets) {
            lo = std::min(lo, static_cast<double>(target.min_raw) / spec.raw_per_unit);
            hi = std::max(hi, static_cast<double>(target.max_raw) / spec.raw_per_unit);
        }
        if (!std::isfinite(setting.value) || setting.value < lo || setting.value > hi) {
            return core::fail(fmt::format("{}: {}: {} is outside the hardware's {}..{} {}", m_actuator,
                                          setting.knob, setting.value, lo, hi, spec.knob.unit));
        }
        targets.push_back(it->second);
    }

    struct Undo {
        std::size_t index;
        std::vector<std::uint64_t> before;
        bool was_changed;
    };
    std::vector<Undo> undo;
    std::string error;
    for (std::size_t k = 0; k < settings.size(); ++k) {
        Entry& entry = m_knobs[targets[k]];
        if (auto saved = save_entry(entry); !saved) {
            error = saved.error().message;
            break;
        }
        // What to put back if the batch fails: joulepilot's own last value, or the original (no re-read:
        // a batch on 64 cpufreq policies would read 64 files more for nothing).
        const bool was_changed = is_changed(targets[k]);
        std::vector<std::uint64_t> before = was_changed ? entry.written : entry.original;
        std::vector<std::uint64_t> raw;
        raw.reserve(entry.spec.targets.size());
        for (const SysfsTarget& target : entry.spec.targets) {
            const double scaled = std::round(settings[k].value * entry.spec.raw_per_unit);
            const std::uint64_t value = scaled <= 0 ? 0 : static_cast<std::uint64_t>(scaled);
            raw.push_back(std::clamp(value, target.min_raw, target.max_raw));
        }
        if (auto written = write_all(entry, raw, before); !written) {
            error = written.error().message;
            break;
        }
        entry.written = std::move(raw);
        undo.push_back({targets[k], std::move(before), was_changed});
        mark_changed(targets[k]);
    }
    if (error.empty()) return {};

    // All or nothing: put back what this batch wrote, newest first.
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        Entry& entry = m_knobs[it->index];
        if (auto undone = write_all(entry, it->before, it->before); !undone) {
            error += "; undoing the batch failed too: " + undone.error().message;
            continue;
        }
        entry.written = it->before;
        if (!it->was_changed) unmark_changed(it->index);
    }
    return core::fail(error);
}

core::Result<void> SysfsKnobSet::restore() {
    std::string errors;
    const std::vector<std::size_t> order(m_changed.rbegin(), m_changed.rend());  // most recent first
    for (std::size_t index : order) {
        Entry& entry = m_knobs[index];
        // Each attribute goes back on its own: one that fails does not keep the others changed.
        bool all_back = true;
        for (std::size_t t = 0; t < entry.spec.targets.size(); ++t) {
            if (auto restored = write_raw(entry, entry.spec.targets[t], entry.original[t]); !restored) {
                errors += (errors.empty() ? "" : "; ") + restored.error().message;
                all_back = false;
            }
        }
        if (!all_back) continue;
        unmark_changed(index);
        entry.saved = false;
    }
    if (!errors.empty()) return core::fail(errors);
    return {};
}

void SysfsKnobSet::restore_on_exit() noexcept {
    if (m_changed.empty()) return;
    try {
        if (auto restored = restore(); !restored) {
            spdlog::error("{}: restore on exit failed: {}", m_actuator, restored.error().message);
        }
    } catch (const std::exception& e) {
        spdlog::error("{}: restore on exit failed: {}", m_actuator, e.what());
    }
}

std::vector<std::string> SysfsKnobSet::changed() const {
    std::vector<std::string> names;
    names.reserve(m_changed.size());
    for (std::size_t index : m_changed) names.push_back(m_knobs[index].spec.knob.name);
    return names;
}

void SysfsKnobSet::forget() {
    const std::vector<double> values = current();
    for (std::size_t i = 0; i < m_knobs.size(); ++i) {
        Entry& entry = m_knobs[i];
        entry.saved = false;
        Knob& knob = entry.spec.knob;
        if (entry.spec.default_is_found) knob.default_value = values[i];
        if (entry.spec.ceiling_is_found) knob.domain.max = std::max(knob.domain.max, values[i]);
    }
    m_changed.clear();
}

void SysfsKnobSet::mark_changed(std::size_t index) {
    unmark_changed(index);
    m_changed.push_back(index);
}

void SysfsKnobSet::unmark_changed(std::size_t index) {
    m_changed.erase(std::remove(m_changed.begin(), m_changed.end(), index), m_changed.end());
}

bool SysfsKnobSet::is_changed(std::size_t index) const {
    return std::find(m_changed.begin(), m_changed.end(), index) != m_changed.end();
}

}  // namespace joulepilot::act
