#pragma once
// Per-request energy for the HTTP API: the records a model server posts (POST /v1/requests), split over
// the GPU energy the loop measures (learn::RequestEnergyLedger: token share, idle kept apart, exact), kept
// in the ledger once attributed. The loop thread feeds energy from each observation's
// gpu.<i>.energy_joules_total counters; server threads post and query. Thread-safe (one mutex).

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "learn/request_energy.hpp"
#include "sense/observation.hpp"
#include "serve/agent_view.hpp"

namespace joulepilot::ledger {
class Ledger;
}

namespace joulepilot::daemon {

class RequestEnergyStore final : public serve::RequestStore {
public:
    // `grams_per_joule`: the grid's carbon intensity (estimated), for grams CO2 per request; `ledger` may
    // be null (then attributed requests are not persisted).
    RequestEnergyStore(learn::RequestEnergyOptions options, double grams_per_joule, ledger::Ledger* ledger);

    // Loop thread: the energy each GPU used since the previous observation.
    void observe(const sense::Observation& observation);

    serve::ApiResult<serve::RequestsAccepted> add(const std::vector<serve::RequestRecord>& records) override;
    [[nodiscard]] serve::ApiResult<serve::RequestEnergy> get(const std::string& id) const override;
    [[nodiscard]] serve::ApiResult<std::vector<serve::ModelEnergy>> per_model(
        const serve::ModelQuery& query) const override;
    [[nodiscard]] learn::RequestEnergyTotals totals() const;

private:
    struct Posted {
        serve::RequestRecord record;
        bool persisted = false;
    };
    void persist_finished();  // with m_mutex held

    mutable std::mutex m_mutex;
    learn::RequestEnergyLedger m_attribution;
    double m_grams_per_joule;
    ledger::Ledger* m_ledger;
    std::map<std::string, Posted> m_posted;              // by id: what the model server sent
    std::map<unsigned, std::size_t> m_energy_signal;     // GPU -> catalog index of its energy counter
    std::map<unsigned, std::pair<double, double>> m_last;  // GPU -> (time, counter) of the last observation
    bool m_signals_found = false;
};

}  // namespace joulepilot::daemon
