#pragma once
// The SafetyShield is the only path from a decision to the actuators. It refuses unknown knobs and
// knobs outside the allow-list, clamps values into their domains, and in `observe` mode (the default
// on real hardware) writes nothing; in `dry_run` it reports exactly what it would write; in `act` it
// saves every actuator's original settings before the first write, applies, and restores them on
// restore_all() (and from its destructor as a last resort).
// Issue 4 adds rate limits, canaries, the SLO guard with rollback and durable crash recovery here.
// Not thread-safe: owned by the loop thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "act/actuator.hpp"
#include "core/result.hpp"

namespace joulepilot::act {

enum class ShieldMode : std::uint8_t { observe, dry_run, act };
std::string_view to_string(ShieldMode mode);
core::Result<ShieldMode> parse_shield_mode(std::string_view text);

struct ChangeRequest {
    std::vector<KnobSetting> settings;
    std::string requested_by;  // the policy's name
    std::string rationale;
};

enum class Outcome : std::uint8_t { applied, clamped, unchanged, refused, not_written, failed };
std::string_view to_string(Outcome outcome);

struct SettingOutcome {
    std::string knob;
    double requested = 0;
    double before = 0;
    double after = 0;  // what the knob holds now (== before unless written)
    Outcome outcome = Outcome::unchanged;
    std::string reason;  // why refused, clamped or failed
};

struct ShieldReport {
    std::vector<SettingOutcome> outcomes;
    [[nodiscard]] std::size_t count(Outcome outcome) const;
};

class SafetyShield {
public:
    // `allowed`: knob names joulepilot may write; empty means every discovered knob.
    SafetyShield(std::vector<Actuator*> actuators, ShieldMode mode, std::unordered_set<std::string> allowed = {});
    SafetyShield(const SafetyShield&) = delete;
    SafetyShield& operator=(const SafetyShield&) = delete;
    ~SafetyShield();

    // The knobs of every actuator, with current values refreshed from the actuators.
    [[nodiscard]] const KnobSpace& knob_space();
    ShieldReport submit(const ChangeRequest& request);
    // Puts back every setting saved before the first write. Safe to call more than once.
    core::Result<void> restore_all();
    [[nodiscard]] ShieldMode mode() const { return m_mode; }

private:
    struct Owner {
        Actuator* actuator;
        std::size_t first_knob;  // index in m_space of this actuator's first knob
        std::size_t knob_count;
        bool saved = false;
    };
    void refresh_current();

    std::vector<Owner> m_owners;
    std::vector<std::size_t> m_owner_of;  // knob index -> owner index
    KnobSpace m_space;
    ShieldMode m_mode;
    std::unordered_set<std::string> m_allowed;
};

}  // namespace joulepilot::act
