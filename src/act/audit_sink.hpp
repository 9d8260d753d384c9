#pragma once
// Every setting the shield decides about becomes an AuditEvent: who asked for what, why, what the knob
// held before and after, and what happened (applied, clamped, refused, rolled back, ...). The shield hands
// events to an AuditSink; the agent's sink appends them to the ledger's hash-chained audit table, tests
// and the twin keep them in memory. Called on the loop thread only.

#include <string>
#include <vector>

#include "core/units.hpp"

namespace joulepilot::act {

struct AuditEvent {
    core::Seconds time{0};
    std::string kind;       // change, canary, release, rollback, restore, recover, disable
    std::string knob;
    std::string target;     // the device or deployment the knob belongs to ("gpu.3", "replica.0")
    double requested = 0;
    double before = 0;
    double after = 0;
    std::string outcome;    // to_string(Outcome)
    std::string policy;     // who asked ("shield" for the shield's own rollbacks and restores)
    std::string reason;     // why refused, clamped, rolled back or failed
    std::string rationale;  // the policy's own words
    std::string predicted;  // the policy's predicted effect, for people
};

class AuditSink {
public:
    virtual ~AuditSink() = default;
    virtual void record(const AuditEvent& event) = 0;
};

// Keeps every event in memory (the twin's report, tests).
class MemoryAuditSink final : public AuditSink {
public:
    void record(const AuditEvent& event) override { events.push_back(event); }
    std::vector<AuditEvent> events;
};

}  // namespace joulepilot::act
