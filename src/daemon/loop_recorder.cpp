#include "daemon/loop_recorder.hpp"

#include <nlohmann/json.hpp>

#include "ledger/ledger.hpp"

namespace joulepilot::daemon {

namespace {

std::string_view provenance_name(sense::Provenance p) {
    switch (p) {
        case sense::Provenance::measured:
            return "measured";
        case sense::Provenance::derived:
            return "derived";
        case sense::Provenance::estimated:
            return "estimated";
    }
    return "measured";
}

}  // namespace

serve::ActionRecord to_api_action(const act::SettingOutcome& o, core::Seconds time, std::string kind,
                                  act::ShieldMode mode, std::uint64_t decision_id) {
    serve::ActionRecord a;
    a.decision_id = decision_id;
    a.time = time;
    a.kind = std::move(kind);
    a.shield_mode = mode == act::ShieldMode::dry_run ? "dry_run" : std::string(act::to_string(mode));
    a.knob = o.knob;
    a.requested = o.requested;
    a.before = o.before;
    a.after = o.after;
    a.outcome = std::string(act::to_string(o.outcome));
    a.reason = o.reason;
    return a;
}

LoopRecorder::LoopRecorder(ledger::Ledger* ledger, serve::SnapshotAgentView& view, double epoch_unix_s,
                           act::ShieldMode mode)
    : m_ledger(ledger), m_view(view), m_epoch_unix_s(epoch_unix_s), m_mode(mode) {}

void LoopRecorder::on_observation(const sense::Observation& observation) {
    if (m_ledger == nullptr) return;
    const auto& catalog = observation.catalog();
    if (m_series.size() != catalog.size()) {
        m_series.clear();
        for (std::size_t i = 0; i < catalog.size(); ++i) {
            const auto& info = catalog.info(i);
            m_series.push_back(m_ledger->series({info.name, info.unit, std::string(provenance_name(info.provenance))}));
        }
    }
    const std::int64_t t_ms = ledger::to_ms(observation.time + core::Seconds(m_epoch_unix_s));
    std::vector<ledger::Sample> samples;
    samples.reserve(catalog.size());
    for (std::size_t i = 0; i < catalog.size(); ++i) {
        if (const auto v = observation.get(i)) samples.push_back({m_series[i], t_ms, *v});
    }
    m_ledger->append(samples);  // a full queue drops the batch; the ledger counts it
}

std::uint64_t LoopRecorder::record_decision(core::Seconds time, const decide::Decision& decision,
                                            const act::ShieldReport& report, const std::string& policy,
                                            const std::string& trigger_name) {
    const core::Seconds unix_time = time + core::Seconds(m_epoch_unix_s);
    serve::DecisionRecord d;
    d.time = unix_time;
    d.policy = policy;
    d.trigger = trigger_name;
    for (const auto& s : decision.settings) d.settings.push_back({s.knob, s.value});
    d.rationale = decision.rationale;
    if (decision.predicted.fleet_power) d.predicted_power_watts = decision.predicted.fleet_power->value();
    if (decision.predicted.p99_ttft) d.predicted_p99_ttft_seconds = decision.predicted.p99_ttft->value();
    if (decision.predicted.p99_tpot) d.predicted_p99_tpot_seconds = decision.predicted.p99_tpot->value();
    const std::uint64_t id = m_view.add_decision(d);
    if (m_ledger != nullptr && (!decision.settings.empty() || trigger_name != "schedule")) {
        nlohmann::json settings = nlohmann::json::array();
        for (const auto& s : decision.settings) settings.push_back({{"knob", s.knob}, {"value", s.value}});
        nlohmann::json predicted = nlohmann::json::object();
        if (d.predicted_power_watts) predicted["fleet_power_watts"] = *d.predicted_power_watts;
        if (d.predicted_p99_ttft_seconds) predicted["p99_ttft_seconds"] = *d.predicted_p99_ttft_seconds;
        if (d.predicted_p99_tpot_seconds) predicted["p99_tpot_seconds"] = *d.predicted_p99_tpot_seconds;
        m_ledger->append(ledger::DecisionRecord{ledger::to_ms(unix_time), policy, decision.rationale, predicted.dump(),
                                                settings.dump()});
    }
    record_actions(time, report, "apply", id);
    return id;
}

void LoopRecorder::record_actions(core::Seconds time, const act::ShieldReport& report, const std::string& kind,
                                  std::uint64_t decision_id) {
    const core::Seconds unix_time = time + core::Seconds(m_epoch_unix_s);
    std::vector<serve::ActionRecord> actions;
    for (const auto& o : report.outcomes) {
        if (o.outcome == act::Outcome::unchanged) continue;
        ++actions_by_outcome[std::string(act::to_string(o.outcome))];
        std::string k = o.outcome == act::Outcome::rolled_back ? "rollback"
                        : o.outcome == act::Outcome::restored  ? "restore"
                                                               : kind;
        actions.push_back(to_api_action(o, unix_time, k, m_mode, decision_id));
        if (m_ledger != nullptr) {
            const auto dot = o.knob.rfind('.');
            m_ledger->append(ledger::ActionRecord{ledger::to_ms(unix_time), o.knob,
                                                  dot == std::string::npos ? o.knob : o.knob.substr(0, dot), o.before,
                                                  o.after, o.requested, std::string(act::to_string(o.outcome)),
                                                  policy_name, o.reason});
        }
    }
    if (!actions.empty()) m_view.add_actions(std::move(actions));
}

void LoopRecorder::on_decision(core::Seconds time, const decide::Decision& decision, const act::ShieldReport& report) {
    last_decision_id = record_decision(time, decision, report, policy_name, trigger);
}

void LoopRecorder::on_shield_tick(core::Seconds time, const act::ShieldReport& report) {
    record_actions(time, report, "apply", 0);
}

void LoopRecorder::after_tick(core::Seconds time) {
    if (on_after_tick) on_after_tick(time);
}

void LoopRecorder::record(const act::AuditEvent& e) {
    if (m_ledger == nullptr) return;
    nlohmann::json body = {{"knob", e.knob},     {"target", e.target}, {"requested", e.requested},
                           {"before", e.before}, {"after", e.after},   {"outcome", e.outcome},
                           {"policy", e.policy}, {"reason", e.reason}, {"rationale", e.rationale},
                           {"predicted", e.predicted}};
    m_ledger->append_audit(ledger::to_ms(e.time + core::Seconds(m_epoch_unix_s)), e.kind, std::move(body));
}

}  // namespace joulepilot::daemon
