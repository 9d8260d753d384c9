#pragma once
// LedgerJobStateStore: the KubeController's per-job state (job_state_store.hpp) kept in the ledger's
// job_state table (src/ledger), which is where `joulepilot schedule run` keeps it by default: one durable
// record next to the agent's, readable with `joulepilot ledger export --table job_state`.
//
// Rows are keyed "<scope>/<job id>" with scope "kube/<namespace>" (kube_scope()), because the table is
// shared by every plan run against that ledger: job ids are unique per namespace (the label
// joulepilot.io/job-id), not across them. load() returns the states of this store's scope only.
// save() commits (blocking) and returns only once the row is in the database; run on a ledger opened with
// durable_commits for the row to survive power loss as well as a crash. A store built on a reader only
// (dry runs: nothing may be written) refuses save().
// Called by the controller on its one thread; the ledger itself is thread-safe.

#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "sched/job_state_store.hpp"

namespace joulepilot::ledger {
class Ledger;
class LedgerReader;
}  // namespace joulepilot::ledger

namespace joulepilot::sched {

// "kube/batch": the scope of the Jobs of one namespace.
std::string kube_scope(const std::string& ns);

class LedgerJobStateStore final : public JobStateStore {
public:
    // Reads and writes through `ledger` (its own reader); `clock` stamps each row's updated time.
    LedgerJobStateStore(ledger::Ledger& ledger, const core::Clock& clock, std::string scope);
    // Read-only: save() fails (for --dry-run, which must write nothing, not even a new ledger file).
    LedgerJobStateStore(const ledger::LedgerReader& reader, std::string scope);

    core::Result<std::vector<JobState>> load() override;
    core::Result<void> save(const JobState& state) override;

    // Copies states of an earlier JSON state file into the ledger, skipping ids the ledger already holds
    // for this scope (so running it twice imports nothing twice); returns how many were imported.
    core::Result<std::size_t> import(const std::vector<JobState>& states);

private:
    [[nodiscard]] std::string key(const std::string& id) const { return m_scope + "/" + id; }

    ledger::Ledger* m_ledger = nullptr;  // null: read-only
    const ledger::LedgerReader& m_reader;
    const core::Clock* m_clock = nullptr;
    std::string m_scope;
};

}  // namespace joulepilot::sched
