#pragma once
// Older observations, decisions and actions for the HTTP API, read from the ledger (its own read
// connection; thread-safe). The view asks when its in-memory window does not reach back far enough.

#include "serve/agent_view.hpp"

namespace joulepilot::ledger {
class LedgerReader;
}

namespace joulepilot::daemon {

class LedgerHistory final : public serve::HistorySource {
public:
    explicit LedgerHistory(const ledger::LedgerReader& reader) : m_reader(reader) {}
    [[nodiscard]] serve::ApiResult<serve::ObservationHistory> observations(
        const serve::ObservationQuery& query) const override;
    [[nodiscard]] serve::ApiResult<std::vector<serve::DecisionRecord>> decisions(
        const serve::RecentQuery& query) const override;
    [[nodiscard]] serve::ApiResult<std::vector<serve::ActionRecord>> actions(
        const serve::RecentQuery& query) const override;

private:
    const ledger::LedgerReader& m_reader;
};

}  // namespace joulepilot::daemon
