#pragma once
// Everything the operator decides about the shield, read from the config's [shield] table (docs/config.md):
// the mode, which knobs may be written and within which bounds, rate limits, the canary, the SLO guard and
// where the originals are kept durably. Immutable after start-up.

#include <filesystem>

#include "act/shield/knob_rules.hpp"
#include "act/shield/shield_mode.hpp"
#include "act/shield/slo_guard.hpp"
#include "core/config.hpp"

namespace joulepilot::act {

struct CanarySettings {
    // A change to several devices or replicas goes to the first one alone, then to the rest after this long
    // if the SLO guard saw no harm. Zero turns the canary off.
    core::Seconds hold{30};
};

struct ShieldSettings {
    ShieldMode mode = ShieldMode::observe;
    // With no rule matching a knob: may it be written? The twin says yes (simulated hardware); a real node
    // says no (least privilege: only knobs the config names).
    bool allow_unlisted = false;
    KnobRules rules;
    CanarySettings canary;
    GuardSettings guard;
    SloTargets slo;
    int max_failures = 3;  // consecutive failed writes before a knob is disabled
    // Originals of changed knobs, kept for crash recovery and `joulepilot restore`; empty: in memory only.
    std::filesystem::path state_file;
};

// Reads [shield] (throws core::ConfigError naming the key). `defaults` supplies what the config leaves out.
ShieldSettings read_shield_settings(const core::ConfigSection& shield, ShieldSettings defaults);

}  // namespace joulepilot::act
