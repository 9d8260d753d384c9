#include "daemon/ledger_history.hpp"

#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ledger/ledger.hpp"

namespace joulepilot::daemon {

namespace {

serve::ApiError ledger_error(const std::string& what) {
    return serve::ApiError{serve::ErrorCode::unavailable, "the ledger could not be read: " + what, {}};
}

std::int64_t since_ms(const serve::RecentQuery& q) { return q.since ? ledger::to_ms(*q.since) + 1 : 0; }

}  // namespace

serve::ApiResult<serve::ObservationHistory> LedgerHistory::observations(const serve::ObservationQuery& query) const {
    auto known = m_reader.series();
    if (!known) return tl::unexpected(ledger_error(known.error().message));
    serve::ObservationHistory history;
    history.source = "ledger";
    const std::int64_t from = query.from ? ledger::to_ms(*query.from) : 0;
    const std::int64_t to = query.to ? ledger::to_ms(*query.to) + 1 : std::numeric_limits<std::int64_t>::max();
    for (const std::string& name : query.signals) {
        const ledger::SeriesInfo* info = nullptr;
        for (const auto& s : *known) {
            if (s.name == name) info = &s;
        }
        if (info == nullptr) {
            return tl::unexpected(serve::ApiError{serve::ErrorCode::not_found,
                                                  fmt::format("no signal '{}' in the ledger", name), {}});
        }
        auto points = m_reader.samples(name, from, to);
        if (!points) return tl::unexpected(ledger_error(points.error().message));
        serve::ObservationSeries series;
        series.signal = name;
        series.unit = info->unit;
        series.provenance = info->provenance;
        for (const auto& p : *points) series.points.push_back({ledger::from_ms(p.t_ms), p.value});
        history.series.push_back(std::move(series));
    }
    return history;
}

serve::ApiResult<std::vector<serve::DecisionRecord>> LedgerHistory::decisions(const serve::RecentQuery& query) const {
    auto rows = query.since ? m_reader.decisions(since_ms(query), query.limit) : m_reader.last_decisions(query.limit);
    if (!rows) return tl::unexpected(ledger_error(rows.error().message));
    std::vector<serve::DecisionRecord> out;
    for (const auto& r : *rows) {
        serve::DecisionRecord d;
        d.time = ledger::from_ms(r.t_ms);
        d.policy = r.policy;
        d.rationale = r.rationale;
        try {
            for (const auto& s : nlohmann::json::parse(r.settings_json)) {
                d.settings.push_back({s.value("knob", ""), s.value("value", 0.0)});
            }
            const auto predicted = nlohmann::json::parse(r.predicted_json);
            if (predicted.contains("fleet_power_watts")) d.predicted_power_watts = predicted["fleet_power_watts"].get<double>();
            if (predicted.contains("p99_ttft_seconds")) d.predicted_p99_ttft_seconds = predicted["p99_ttft_seconds"].get<double>();
            if (predicted.contains("p99_tpot_seconds")) d.predicted_p99_tpot_seconds = predicted["p99_tpot_seconds"].get<double>();
        } catch (const nlohmann::json::exception&) {
            // A row written by a newer or broken writer: served without its details rather than not at all.
        }
        out.push_back(std::move(d));
    }
    return out;
}

serve::ApiResult<std::vector<serve::ActionRecord>> LedgerHistory::actions(const serve::RecentQuery& query) const {
    auto rows = query.since ? m_reader.actions(since_ms(query), query.limit) : m_reader.last_actions(query.limit);
    if (!rows) return tl::unexpected(ledger_error(rows.error().message));
    std::vector<serve::ActionRecord> out;
    for (const auto& r : *rows) {
        serve::ActionRecord a;
        a.time = ledger::from_ms(r.t_ms);
        a.knob = r.knob;
        a.requested = r.requested;
        a.before = r.before;
        a.after = r.after;
        a.outcome = r.outcome;
        a.reason = r.reason;
        a.kind = r.outcome == "rolled-back" ? "rollback" : (r.outcome == "restored" ? "restore" : "apply");
        out.push_back(std::move(a));
    }
    return out;
}

}  // namespace joulepilot::daemon
