#pragma once
// The SafetyShield is the only path from a decision to the actuators. Per setting it refuses unknown
// knobs, knobs the operator did not allow and disabled knobs; clamps into the operator's bounds and the
// knob's domain; drops moves inside the deadband; enforces the minimum time between writes and the
// back-off after a rollback. In `observe` mode (the default on real hardware) it writes nothing, in
// `dry_run` it reports exactly what it would write, in `act` it writes:
//  - originals are saved (and, with a state file, kept durably) before the first write to any knob;
//  - a change that moves knobs away from their defaults on several devices goes to one device first (the
//    canary) and to the rest after the canary hold, if the SLO guard saw no harm;
//  - such a change stays on probation for the guard's watch time: if the SLO attainment drops below target,
//    or the service gets worse than the policy announced for the move (or, with no announcement, than
//    before the change) by more than the operator allows, the change is rolled back at that tick and the
//    move is backed off; a move whose announcement is above the SLO is refused up front; moves back toward
//    the defaults are never delayed or judged;
//  - a failed write puts the knob back to its original; after max_failures in a row the knob is disabled;
//  - restore_all() (and the destructor, as a last resort) puts back every original; recover() does the
//    same from the state file after a crash, and must run before the first decision.
// Every outcome goes to the AuditSink. Not thread-safe: owned by the loop thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "act/actuator.hpp"
#include "act/audit_sink.hpp"
#include "act/shield/saved_settings.hpp"
#include "act/shield/shield_settings.hpp"
#include "core/result.hpp"

namespace joulepilot::act {

struct ChangeRequest {
    ChangeRequest() = default;
    ChangeRequest(std::vector<KnobSetting> settings_, std::string requested_by_, std::string rationale_,
                  std::string predicted_ = {})
        : settings(std::move(settings_)),
          requested_by(std::move(requested_by_)),
          rationale(std::move(rationale_)),
          predicted(std::move(predicted_)) {}

    std::vector<KnobSetting> settings;
    std::string requested_by;  // the policy's name
    std::string rationale;
    std::string predicted;     // the policy's predicted effect, for the audit trail
    // The same prediction as numbers, judged by the SLO guard (slo_guard.hpp); empty: judged against the
    // pre-change window.
    Announcement announced;
};

enum class Outcome : std::uint8_t {
    applied,      // written as requested
    clamped,      // written, at the nearest value the bounds allow
    unchanged,    // nothing to do (already there, or inside the deadband)
    refused,      // not written: the reason says why
    not_written,  // observe or dry-run mode: the reason says what would have been written
    failed,       // the write failed; the knob was put back to its original
    pending,      // waiting for the canary to pass
    rolled_back,  // the SLO guard undid it
    restored,     // put back to the original (exit, operator, crash recovery)
};
std::string_view to_string(Outcome outcome);

struct SettingOutcome {
    std::string knob;
    double requested = 0;
    double before = 0;
    double after = 0;  // what the knob holds now (== before unless written)
    Outcome outcome = Outcome::unchanged;
    std::string reason;  // why refused, clamped, pending, rolled back or failed
};

struct ShieldReport {
    std::vector<SettingOutcome> outcomes;
    [[nodiscard]] std::size_t count(Outcome outcome) const;
};

// What the shield knows about one knob, for status pages and the API.
struct KnobStatus {
    std::string knob;
    double current = 0;
    bool writable = false;
    bool disabled = false;
    std::string disabled_reason;
    int consecutive_failures = 0;
    std::optional<double> original;  // set once joulepilot has written the knob
    std::optional<core::Seconds> last_write;
    std::optional<core::Seconds> backed_off_until;
    bool on_probation = false;
    std::optional<double> pending;  // waiting for the canary
};

struct ShieldCounters {
    std::uint64_t writes = 0;
    std::uint64_t refusals = 0;
    std::uint64_t failures = 0;
    std::uint64_t canaries = 0;
    std::uint64_t rollbacks = 0;
    std::uint64_t restores = 0;
};

class SafetyShield {
public:
    SafetyShield(std::vector<Actuator*> actuators, ShieldSettings settings, AuditSink* audit = nullptr);
    // Plain shield without canary or guard: `allowed` lists the writable knobs; empty means every knob.
    SafetyShield(std::vector<Actuator*> actuators, ShieldMode mode, std::unordered_set<std::string> allowed = {});
    SafetyShield(const SafetyShield&) = delete;
    SafetyShield& operator=(const SafetyShield&) = delete;
    ~SafetyShield();

    // The knobs of every actuator, with current values refreshed from the actuators.
    [[nodiscard]] const KnobSpace& knob_space();
    ShieldReport submit(const ChangeRequest& request, core::Seconds now = core::Seconds(0));
    // Called every sense tick with the service's latest health: judges the change on probation (rolling it
    // back at once when it breaches the guard) and releases a canary whose hold is over.
    ShieldReport on_tick(core::Seconds now, const ServiceHealth& health);
    // Puts back every original saved before the first write, with audit events (operator rollback, exit).
    ShieldReport restore_all(core::Seconds now, const std::string& reason);
    // The same without a report, for exit paths. Safe to call more than once.
    core::Result<void> restore_all();
    // After a crash: writes back the originals the state file holds, then removes it. Without a state file
    // (or with none on disk) it does nothing. While a state file stays unrestored, every write is refused.
    core::Result<ShieldReport> recover(core::Seconds now = core::Seconds(0));

    [[nodiscard]] ShieldMode mode() const { return m_settings.mode; }
    [[nodiscard]] const ShieldSettings& settings() const { return m_settings; }
    [[nodiscard]] std::vector<KnobStatus> status() const;
    [[nodiscard]] const ShieldCounters& counters() const { return m_counters; }
    // What is wrong with the operator's [shield.knobs] rules on this machine, found at construction (and
    // logged): an allowing pattern that matches no knob (a typo?), bounds that leave a knob no value.
    [[nodiscard]] const std::vector<std::string>& config_warnings() const { return m_config_warnings; }

private:
    struct Owner {
        Actuator* actuator;
        std::size_t first_knob;  // index in m_space of this actuator's first knob
        std::size_t knob_count;
        bool saved = false;
    };
    struct KnobState {
        std::size_t owner = 0;
        const KnobRule* rule = nullptr;
        core::Seconds min_interval{0};
        bool writable = false;
        std::optional<double> original;
        std::optional<core::Seconds> last_write;
        int failures = 0;
        bool disabled = false;
        std::string disabled_reason;
        core::Seconds backoff_until{-1e300};
        int backoff_direction = 0;  // the direction of the rolled-back move
        int rollbacks = 0;
        std::optional<double> pending;
    };
    struct Write {
        std::size_t knob;
        double value;
        std::size_t outcome;  // index in the report
    };
    struct Probation {
        core::Seconds until{0};
        ServiceHealth before;
        std::vector<std::pair<std::size_t, double>> changes;  // knob, value before the change
        std::string policy;
        Announcement announced;  // the latest change's announcement
        std::optional<core::Seconds> breach_since;  // the guard has seen a breach on every tick since
    };
    struct Canary {
        core::Seconds release_at{0};
        std::vector<KnobSetting> rest;
        std::string policy;
        std::string rationale;
        std::string predicted;
        Announcement announced;
    };

    void init(std::vector<Actuator*> actuators);
    [[nodiscard]] std::vector<std::string> check_rules() const;
    // After crash recovery: the actuator's defaults and domains again (they may depend on the values found).
    void rebaseline(std::size_t owner);
    // `released`: the rest of a canary that held (never canaried again).
    ShieldReport submit_impl(const ChangeRequest& request, core::Seconds now, bool released);
    void refresh_current();
    // Validates one setting; returns the value to write or fills `out` with why not.
    std::optional<double> screen(std::size_t knob, double requested, core::Seconds now, SettingOutcome& out);
    bool toward_default(std::size_t knob, double value) const;
    // Writes per actuator (saving originals first); fills outcomes of failures. Returns the knobs written.
    std::vector<std::size_t> write(const std::vector<Write>& writes, ShieldReport& report, core::Seconds now);
    core::Result<void> save_originals(std::size_t owner);
    void fall_back(std::size_t knob, const std::string& error, core::Seconds now);
    void roll_back(core::Seconds now, const std::string& why, ShieldReport& report);
    void audit(core::Seconds now, std::string_view kind, const SettingOutcome& outcome, const std::string& policy,
               const std::string& rationale = "", const std::string& predicted = "");

    ShieldSettings m_settings;
    AuditSink* m_audit;
    std::vector<Owner> m_owners;
    KnobSpace m_space;
    std::vector<KnobState> m_state;  // parallel to m_space
    std::optional<SavedSettingsFile> m_file;
    std::vector<SavedKnob> m_saved;  // what the state file holds
    bool m_unrecovered = false;      // a state file from an earlier run is still waiting for recover()
    std::optional<Probation> m_probation;
    std::optional<Canary> m_canary;
    ServiceHealth m_health;
    // The arrival rate smoothed over the attainment window, for the requests behind an attainment reading.
    std::optional<double> m_arrivals_rps;
    std::optional<core::Seconds> m_last_tick;
    ShieldCounters m_counters;
    std::vector<std::string> m_config_warnings;
};

}  // namespace joulepilot::act
