#include "sched/ledger_job_state_store.hpp"

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ledger/ledger.hpp"

namespace joulepilot::sched {

std::string kube_scope(const std::string& ns) { return "kube/" + ns; }

LedgerJobStateStore::LedgerJobStateStore(ledger::Ledger& ledger, const core::Clock& clock, std::string scope)
    : m_ledger(&ledger), m_reader(ledger.reader()), m_clock(&clock), m_scope(std::move(scope)) {}

LedgerJobStateStore::LedgerJobStateStore(const ledger::LedgerReader& reader, std::string scope)
    : m_reader(reader), m_scope(std::move(scope)) {}

core::Result<std::vector<JobState>> LedgerJobStateStore::load() {
    auto rows = m_reader.job_states();
    if (!rows) return tl::unexpected(rows.error());
    const std::string prefix = m_scope + "/";
    std::vector<JobState> out;
    for (const ledger::JobStateRecord& row : *rows) {
        if (!row.job_id.starts_with(prefix)) continue;  // another namespace's, or another user's row
        const std::string where = fmt::format("ledger job_state '{}'", row.job_id);
        const auto doc = nlohmann::json::parse(row.state_json, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) {
            return core::fail(where + ": the controller state is not JSON; nothing is decided without it: "
                                      "check the row (joulepilot ledger export --table job_state)");
        }
        auto state = job_state_from_json(doc, where);
        if (!state) return tl::unexpected(state.error());
        if (key(state->id) != row.job_id)
            return core::fail(fmt::format("{}: holds the state of job '{}'", where, state->id));
        out.push_back(std::move(*state));
    }
    return out;
}

core::Result<void> LedgerJobStateStore::save(const JobState& state) {
    if (m_ledger == nullptr)
        return core::fail(fmt::format("job state '{}': the ledger was opened read-only (dry run)", state.id));
    ledger::JobStateRecord record{key(state.id), job_state_to_json(state).dump(), ledger::to_ms(m_clock->now())};
    auto committed = m_ledger->commit(std::move(record));
    if (!committed) {
        return core::fail(fmt::format("job state '{}' not saved in the ledger {}: {}", state.id,
                                      m_ledger->path().string(), committed.error().message));
    }
    return {};
}

core::Result<std::size_t> LedgerJobStateStore::import(const std::vector<JobState>& states) {
    auto held = load();
    if (!held) return tl::unexpected(held.error());
    std::set<std::string> ids;
    for (const JobState& state : *held) ids.insert(state.id);
    std::size_t imported = 0;
    for (const JobState& state : states) {
        if (ids.contains(state.id)) continue;
        if (auto saved = save(state); !saved) return tl::unexpected(saved.error());
        ++imported;
    }
    return imported;
}

}  // namespace joulepilot::sched
