#include "act/shield/safety_shield.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace joulepilot::act {

std::string_view to_string(ShieldMode mode) {
    switch (mode) {
        case ShieldMode::observe:
            return "observe";
        case ShieldMode::dry_run:
            return "dry-run";
        case ShieldMode::act:
            return "act";
    }
    return "unknown";
}

core::Result<ShieldMode> parse_shield_mode(std::string_view text) {
    if (text == "observe") return ShieldMode::observe;
    if (text == "dry-run") return ShieldMode::dry_run;
    if (text == "act") return ShieldMode::act;
    return core::fail(fmt::format("mode '{}' is not one of observe, dry-run, act", text));
}

std::string_view to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::applied:
            return "applied";
        case Outcome::clamped:
            return "clamped";
        case Outcome::unchanged:
            return "unchanged";
        case Outcome::refused:
            return "refused";
        case Outcome::not_written:
            return "not-written";
        case Outcome::failed:
            return "failed";
        case Outcome::pending:
            return "pending";
        case Outcome::rolled_back:
            return "rolled-back";
        case Outcome::restored:
            return "restored";
    }
    return "unknown";
}

std::size_t ShieldReport::count(Outcome outcome) const {
    std::size_t n = 0;
    for (const auto& o : outcomes) n += (o.outcome == outcome) ? 1 : 0;
    return n;
}

namespace {

// The device or deployment a knob belongs to: everything before its last dot ("gpu.3", "replica.0").
std::string target_of(std::string_view knob) {
    const auto dot = knob.rfind('.');
    return std::string(dot == std::string_view::npos ? knob : knob.substr(0, dot));
}

int direction(double from, double to) { return to > from ? 1 : (to < from ? -1 : 0); }

double lowest(const KnobDomain& d) {
    return d.values.empty() ? d.min : *std::min_element(d.values.begin(), d.values.end());
}
double highest(const KnobDomain& d) {
    return d.values.empty() ? d.max : *std::max_element(d.values.begin(), d.values.end());
}

// "64..512 sequences ([shield.knobs."replica.*"] min 64; the knob's own 8..512)": where a value may lie and
// why, for the reasons of clamped and refused settings.
std::string bounds_text(const Knob& knob, const KnobRule* rule) {
    const double domain_lo = lowest(knob.domain);
    const double domain_hi = highest(knob.domain);
    const double lo = (rule != nullptr && rule->min) ? std::max(*rule->min, domain_lo) : domain_lo;
    const double hi = (rule != nullptr && rule->max) ? std::min(*rule->max, domain_hi) : domain_hi;
    std::string text = fmt::format("{}..{} {}", lo, hi, knob.unit);
    if (rule != nullptr && (rule->min || rule->max)) {
        text += fmt::format(" ([shield.knobs.\"{}\"]{}{}; the knob's own {}..{})", rule->pattern,
                            rule->min ? fmt::format(" min {}", *rule->min) : "",
                            rule->max ? fmt::format(" max {}", *rule->max) : "", domain_lo, domain_hi);
    }
    return text;
}

ShieldSettings plain_settings(ShieldMode mode, const std::unordered_set<std::string>& allowed) {
    ShieldSettings s;
    s.mode = mode;
    s.allow_unlisted = allowed.empty();
    for (const auto& name : allowed) {
        KnobRule rule;
        rule.pattern = name;
        s.rules.add(std::move(rule));
    }
    s.canary.hold = core::Seconds(0);
    s.guard.enabled = false;
    return s;
}

}  // namespace

SafetyShield::SafetyShield(std::vector<Actuator*> actuators, ShieldSettings settings, AuditSink* audit)
    : m_settings(std::move(settings)), m_audit(audit) {
    init(std::move(actuators));
}

SafetyShield::SafetyShield(std::vector<Actuator*> actuators, ShieldMode mode, std::unordered_set<std::string> allowed)
    : m_settings(plain_settings(mode, allowed)), m_audit(nullptr) {
    init(std::move(actuators));
}

void SafetyShield::init(std::vector<Actuator*> actuators) {
    for (Actuator* actuator : actuators) {
        Owner owner{actuator, m_space.size(), 0};
        for (Knob& knob : actuator->discover()) {
            KnobState state;
            state.owner = m_owners.size();
            state.rule = m_settings.rules.match(knob.name);
            state.min_interval = m_settings.rules.min_interval(knob.name);
            state.writable = state.rule != nullptr ? state.rule->allowed : m_settings.allow_unlisted;
            m_state.push_back(state);
            m_space.add(std::move(knob));
            ++owner.knob_count;
        }
        m_owners.push_back(owner);
    }
    if (!m_settings.state_file.empty()) {
        m_file.emplace(m_settings.state_file);
        m_unrecovered = m_file->exists();
    }
    m_config_warnings = check_rules();
    for (const std::string& warning : m_config_warnings) spdlog::warn("shield: {}", warning);
}

std::vector<std::string> SafetyShield::check_rules() const {
    std::vector<std::string> warnings;
    for (const KnobRule& rule : m_settings.rules.rules()) {
        if (!rule.allowed) continue;  // the actuators' own deny-by-default rules match what they may
        bool matched = false;
        for (std::size_t k = 0; k < m_space.size(); ++k) {
            if (!glob_match(rule.pattern, m_space.at(k).name)) continue;
            matched = true;
            if (m_state[k].rule != &rule) continue;  // a later rule decides for this knob
            const Knob& knob = m_space.at(k);
            const bool empty = (rule.min && *rule.min > highest(knob.domain)) ||
                               (rule.max && *rule.max < lowest(knob.domain));
            if (empty) {
                warnings.push_back(fmt::format("{}: no value lies inside {}: every change of it will be refused",
                                               knob.name, bounds_text(knob, &rule)));
            }
        }
        if (!matched) {
            std::string known;
            for (std::size_t k = 0; k < m_space.size() && k < 8; ++k) known += (k == 0 ? "" : ", ") + m_space.at(k).name;
            if (m_space.size() > 8) known += ", ...";
            warnings.push_back(fmt::format("[shield.knobs.\"{}\"] matches no knob on this machine (knobs: {})",
                                           rule.pattern, known.empty() ? "none" : known));
        }
    }
    return warnings;
}

SafetyShield::~SafetyShield() {
    if (auto restored = restore_all(); !restored) {
        spdlog::error("shield: restore on exit failed: {}", restored.error().message);
    }
}

void SafetyShield::refresh_current() {
    for (const Owner& owner : m_owners) {
        const std::vector<double> values = owner.actuator->current();
        for (std::size_t i = 0; i < owner.knob_count && i < values.size(); ++i) {
            m_space.at(owner.first_knob + i).current = values[i];
        }
    }
}

const KnobSpace& SafetyShield::knob_space() {
    refresh_current();
    return m_space;
}

void SafetyShield::audit(core::Seconds now, std::string_view kind, const SettingOutcome& outcome,
                         const std::string& policy, const std::string& rationale, const std::string& predicted) {
    if (m_audit == nullptr) return;
    AuditEvent event;
    event.time = now;
    event.kind = std::string(kind);
    event.knob = outcome.knob;
    event.target = target_of(outcome.knob);
    event.requested = outcome.requested;
    event.before = outcome.before;
    event.after = outcome.after;
    event.outcome = std::string(to_string(outcome.outcome));
    event.policy = policy;
    event.reason = outcome.reason;
    event.rationale = rationale;
    event.predicted = predicted;
    m_audit->record(event);
}

bool SafetyShield::toward_default(std::size_t knob, double value) const {
    const Knob& k = m_space.at(knob);
    return std::abs(value - k.default_value) <= std::abs(k.current - k.default_value);
}

std::optional<double> SafetyShield::screen(std::size_t index, double requested, core::Seconds now,
                                           SettingOutcome& out) {
    const Knob& knob = m_space.at(index);
    const KnobState& state = m_state[index];
    auto refuse = [&out](std::string why) {
        out.outcome = Outcome::refused;
        out.reason = std::move(why);
        return std::nullopt;
    };
    if (!state.writable) return refuse("not allowed by the config (add it under [shield.knobs])");
    if (state.disabled) return refuse("disabled: " + state.disabled_reason);
    if (!std::isfinite(requested)) return refuse("value is not a finite number");
    if (m_unrecovered) {
        return refuse(fmt::format("settings saved by an earlier run ({}) are not restored yet; run `joulepilot "
                                  "restore` or start the agent again",
                                  m_file->path().string()));
    }

    // The operator's bounds first, then the knob's own domain.
    double value = requested;
    const KnobRule* rule = state.rule;
    if (rule != nullptr) {
        if (rule->min) value = std::max(value, *rule->min);
        if (rule->max) value = std::min(value, *rule->max);
        if (rule->step && *rule->step > 0) {
            const double base = rule->min.value_or(knob.domain.min);
            value = base + std::round((value - base) / *rule->step) * *rule->step;
            if (rule->max) value = std::min(value, *rule->max);
        }
    }
    value = knob.domain.clamp(value);
    if (rule != nullptr && ((rule->min && value < *rule->min) || (rule->max && value > *rule->max))) {
        return refuse(fmt::format("no value lies inside {}", bounds_text(knob, rule)));
    }
    if (value == knob.current) {
        out.outcome = Outcome::unchanged;
        return std::nullopt;
    }
    if (rule != nullptr && std::abs(value - knob.current) < rule->deadband) {
        out.outcome = Outcome::unchanged;
        out.reason = fmt::format("inside the deadband of {}", rule->deadband);
        return std::nullopt;
    }
    if (state.last_write && now < *state.last_write + state.min_interval) {
        return refuse(fmt::format("rate limited: at most one change every {:.0f} s (next at t={:.0f} s)",
                                  state.min_interval.value(), (*state.last_write + state.min_interval).value()));
    }
    if (now < state.backoff_until && direction(knob.current, value) == state.backoff_direction) {
        return refuse(fmt::format("backed off until t={:.0f} s: the same move was rolled back by the SLO guard",
                                  state.backoff_until.value()));
    }
    if (state.pending) return refuse("a canary for this knob is in progress");
    if (value != requested) {
        out.outcome = Outcome::clamped;
        const bool outside = requested < lowest(knob.domain) || requested > highest(knob.domain) ||
                             (rule != nullptr && ((rule->min && requested < *rule->min) ||
                                                  (rule->max && requested > *rule->max)));
        out.reason = outside ? fmt::format("clamped to {}: {} is outside {}", value, requested, bounds_text(knob, rule))
                             : fmt::format("clamped to {}: the nearest allowed step", value);
    } else {
        out.outcome = Outcome::applied;
    }
    return value;
}

core::Result<void> SafetyShield::save_originals(std::size_t o) {
    Owner& owner = m_owners[o];
    if (owner.saved) return {};
    if (auto saved = owner.actuator->save(); !saved) {
        return core::fail("could not save the original setting: " + saved.error().message);
    }
    owner.saved = true;
    for (std::size_t i = 0; i < owner.knob_count; ++i) {
        KnobState& state = m_state[owner.first_knob + i];
        if (!state.original) state.original = m_space.at(owner.first_knob + i).current;
    }
    return {};
}

void SafetyShield::fall_back(std::size_t index, const std::string& error, core::Seconds now) {
    KnobState& state = m_state[index];
    Knob& knob = m_space.at(index);
    ++state.failures;
    ++m_counters.failures;
    if (state.original) {
        const KnobSetting back{knob.name, *state.original};
        if (auto put_back = m_owners[state.owner].actuator->apply({&back, 1}); !put_back) {
            spdlog::error("shield: {} could not be put back to {} after a failed write: {}", knob.name,
                          *state.original, put_back.error().message);
        }
    }
    if (state.failures >= m_settings.max_failures && !state.disabled) {
        state.disabled = true;
        state.disabled_reason =
            fmt::format("{} failed writes in a row (last: {}); fix the cause and restart the agent", state.failures, error);
        spdlog::error("shield: {} disabled: {}", knob.name, state.disabled_reason);
        SettingOutcome out{knob.name, knob.current, knob.current, knob.current, Outcome::refused, state.disabled_reason};
        audit(now, "disable", out, "shield");
    }
}

std::vector<std::size_t> SafetyShield::write(const std::vector<Write>& writes, ShieldReport& report,
                                             core::Seconds now) {
    std::map<std::size_t, std::vector<const Write*>> by_owner;
    for (const Write& w : writes) by_owner[m_state[w.knob].owner].push_back(&w);

    std::vector<std::size_t> written;
    for (auto& [o, batch] : by_owner) {
        auto fail_all = [&](const std::string& why) {
            for (const Write* w : batch) {
                auto& out = report.outcomes[w->outcome];
                out.outcome = Outcome::failed;
                out.after = out.before;
                out.reason = why;
            }
        };
        if (auto saved = save_originals(o); !saved) {
            fail_all(saved.error().message);
            continue;
        }
        // Durable originals before the first write to each knob.
        bool new_originals = false;
        for (const Write* w : batch) {
            const std::string& name = m_space.at(w->knob).name;
            const bool known = std::any_of(m_saved.begin(), m_saved.end(), [&](const SavedKnob& s) { return s.knob == name; });
            if (!known) {
                m_saved.push_back({m_owners[o].actuator->name(), name, *m_state[w->knob].original});
                new_originals = true;
            }
        }
        if (new_originals && m_file) {
            if (auto stored = m_file->store(m_saved); !stored) {
                fail_all("not written, the originals could not be kept durably: " + stored.error().message);
                continue;
            }
        }
        std::vector<KnobSetting> settings;
        for (const Write* w : batch) settings.push_back({m_space.at(w->knob).name, w->value});
        if (auto applied = m_owners[o].actuator->apply(settings); !applied) {
            fail_all(applied.error().message);
            for (const Write* w : batch) fall_back(w->knob, applied.error().message, now);
            continue;
        }
        for (const Write* w : batch) {
            KnobState& state = m_state[w->knob];
            state.failures = 0;
            state.last_write = now;
            ++m_counters.writes;
            written.push_back(w->knob);
        }
    }
    refresh_current();
    return written;
}

ShieldReport SafetyShield::submit(const ChangeRequest& request, core::Seconds now) {
    return submit_impl(request, now, false);
}

ShieldReport SafetyShield::submit_impl(const ChangeRequest& request, core::Seconds now, bool released) {
    refresh_current();
    ShieldReport report;
    std::vector<Write> safe;   // back toward the defaults: never delayed or judged
    std::vector<Write> risky;  // away from the defaults: canary and probation
    std::set<std::size_t> seen;

    for (const KnobSetting& setting : request.settings) {
        SettingOutcome out{setting.knob, setting.value, 0, 0, Outcome::unchanged, ""};
        const auto index = m_space.find(setting.knob);
        if (!index) {
            out.outcome = Outcome::refused;
            out.reason = "unknown knob (not discovered on this machine)";
        } else if (!seen.insert(*index).second) {
            out.outcome = Outcome::refused;
            out.reason = "named twice in one request";
            out.before = out.after = m_space.at(*index).current;
        } else {
            out.before = out.after = m_space.at(*index).current;
            if (const auto value = screen(*index, setting.value, now, out)) {
                if (m_settings.mode != ShieldMode::act) {
                    out.outcome = Outcome::not_written;
                    out.reason = fmt::format("{} mode: would write {}", to_string(m_settings.mode), *value);
                } else {
                    out.after = *value;
                    (toward_default(*index, *value) ? safe : risky).push_back({*index, *value, report.outcomes.size()});
                }
            }
        }
        if (out.outcome == Outcome::refused) ++m_counters.refusals;
        report.outcomes.push_back(std::move(out));
    }

    // A move whose own announcement breaks the SLO is refused before anything is written.
    if (!risky.empty() && m_settings.guard.enabled) {
        if (auto why = announcement_refusal(request.announced, m_settings.slo)) {
            for (const Write& w : risky) {
                auto& out = report.outcomes[w.outcome];
                out.outcome = Outcome::refused;
                out.after = out.before;
                out.reason = *why;
                ++m_counters.refusals;
            }
            risky.clear();
        }
    }

    // The canary: with risky moves on several targets, the first target goes alone.
    std::set<std::size_t> canary_outcomes;  // the canary's own settings (written now)
    if (!risky.empty() && !released && m_settings.canary.hold.value() > 0) {
        if (m_canary) {
            for (const Write& w : risky) {
                auto& out = report.outcomes[w.outcome];
                out.outcome = Outcome::refused;
                out.after = out.before;
                out.reason = fmt::format("a canary is in progress until t={:.0f} s", m_canary->release_at.value());
                ++m_counters.refusals;
            }
            risky.clear();
        } else {
            const std::string first = target_of(m_space.at(risky.front().knob).name);
            std::vector<Write> canary;
            Canary pending{now + m_settings.canary.hold, {}, request.requested_by, request.rationale, request.predicted,
                           request.announced};
            for (const Write& w : risky) {
                if (target_of(m_space.at(w.knob).name) == first) {
                    canary.push_back(w);
                    continue;
                }
                auto& out = report.outcomes[w.outcome];
                out.outcome = Outcome::pending;
                out.after = out.before;
                out.reason = fmt::format("canary on {} first; released at t={:.0f} s if the SLO holds", first,
                                         pending.release_at.value());
                m_state[w.knob].pending = w.value;
                pending.rest.push_back({m_space.at(w.knob).name, w.value});
            }
            if (!pending.rest.empty()) {
                m_canary = std::move(pending);
                ++m_counters.canaries;
                for (const Write& w : canary) {
                    report.outcomes[w.outcome].reason += (report.outcomes[w.outcome].reason.empty() ? "" : "; ") +
                                                         std::string("canary");
                    canary_outcomes.insert(w.outcome);
                }
            }
            risky = std::move(canary);
        }
    }

    std::vector<Write> all = safe;
    all.insert(all.end(), risky.begin(), risky.end());
    if (!all.empty()) {
        // Values before the write, for the probation's rollback.
        std::map<std::size_t, double> before;
        for (const Write& w : risky) before[w.knob] = report.outcomes[w.outcome].before;
        const std::vector<std::size_t> written = write(all, report, now);
        std::vector<std::pair<std::size_t, double>> changes;
        for (std::size_t k : written) {
            if (before.count(k) != 0) changes.emplace_back(k, before[k]);
        }
        if (!changes.empty() && m_settings.guard.enabled) {
            if (!m_probation) m_probation = Probation{now, m_health, {}, request.requested_by, request.announced, std::nullopt};
            m_probation->until = now + m_settings.guard.watch;
            m_probation->announced = request.announced;
            m_probation->changes.insert(m_probation->changes.end(), changes.begin(), changes.end());
        }
    }
    for (std::size_t i = 0; i < report.outcomes.size(); ++i) {
        const auto& out = report.outcomes[i];
        if (out.outcome == Outcome::unchanged) continue;
        const bool canary = canary_outcomes.count(i) != 0 && out.outcome != Outcome::failed;
        const char* kind = released ? "release" : (canary ? "canary" : (out.outcome == Outcome::pending ? "pending" : "change"));
        audit(now, kind, out, request.requested_by, request.rationale, request.predicted);
    }
    return report;
}

void SafetyShield::roll_back(core::Seconds now, const std::string& why, ShieldReport& report) {
    refresh_current();
    // Undo in reverse order, per actuator in one batch each.
    std::map<std::size_t, std::vector<KnobSetting>> by_owner;
    std::vector<SettingOutcome> outcomes;
    std::set<std::size_t> done;
    for (auto it = m_probation->changes.rbegin(); it != m_probation->changes.rend(); ++it) {
        const auto [k, previous] = *it;
        if (!done.insert(k).second) continue;
        // The earliest value before the probation started is the one to go back to.
        double target = previous;
        for (const auto& [k2, v2] : m_probation->changes) {
            if (k2 == k) {
                target = v2;
                break;
            }
        }
        KnobState& state = m_state[k];
        const Knob& knob = m_space.at(k);
        // Back off this move, longer each time it has to be undone.
        state.backoff_direction = direction(target, knob.current);
        state.backoff_until = now + m_settings.guard.backoff * std::pow(2.0, std::min(state.rollbacks, 6));
        ++state.rollbacks;
        by_owner[state.owner].push_back({knob.name, target});
        outcomes.push_back({knob.name, target, knob.current, target, Outcome::rolled_back, why});
    }
    for (auto& [o, settings] : by_owner) {
        if (auto applied = m_owners[o].actuator->apply(settings); !applied) {
            for (auto& out : outcomes) {
                for (const auto& s : settings) {
                    if (s.knob == out.knob) {
                        out.outcome = Outcome::failed;
                        out.after = out.before;
                        out.reason = "rollback failed: " + applied.error().message;
                    }
                }
            }
        }
    }
    // A canary that failed takes its pending rest with it.
    if (m_canary) {
        for (const auto& s : m_canary->rest) {
            const auto k = *m_space.find(s.knob);
            m_state[k].pending.reset();
            outcomes.push_back({s.knob, s.value, m_space.at(k).current, m_space.at(k).current, Outcome::refused,
                                "canary failed: " + why});
        }
        m_canary.reset();
    }
    ++m_counters.rollbacks;
    spdlog::warn("shield: rolled back {} change(s) by {}: {}", done.size(), m_probation->policy, why);
    const std::string policy = m_probation->policy;
    m_probation.reset();
    refresh_current();
    for (auto& out : outcomes) {
        audit(now, "rollback", out, "shield", fmt::format("undoing {}'s change", policy));
        report.outcomes.push_back(std::move(out));
    }
}

ShieldReport SafetyShield::on_tick(core::Seconds now, const ServiceHealth& reading) {
    ServiceHealth health = reading;
    // The requests behind the attainment reading, unless the reading carries them: the arrival rate
    // averaged (exponentially) over the window the attainment covers, times that window.
    if (health.arrival_rate && std::isfinite(*health.arrival_rate) && *health.arrival_rate >= 0) {
        const double window_s = m_settings.guard.attainment_window.value();
        const double dt = m_last_tick ? std::max(0.0, (now - *m_last_tick).value()) : window_s;
        const double keep = std::exp(-dt / window_s);
        m_arrivals_rps = m_arrivals_rps ? keep * *m_arrivals_rps + (1 - keep) * *health.arrival_rate
                                        : *health.arrival_rate;
    }
    m_last_tick = now;
    if (!health.attainment_requests && m_arrivals_rps) {
        health.attainment_requests = *m_arrivals_rps * m_settings.guard.attainment_window.value();
    }
    m_health = health;
    ShieldReport report;
    if (m_probation) {
        if (auto why = guard_breach(m_probation->before, health, m_settings.guard, m_settings.slo,
                                    m_probation->announced)) {
            if (!m_probation->breach_since) m_probation->breach_since = now;
            const core::Seconds held = now - *m_probation->breach_since;
            const bool severe = severe_breach(m_probation->before, health, m_settings.guard, m_settings.slo);
            if (held >= m_settings.guard.confirm || severe) {
                if (severe && held < m_settings.guard.confirm) {
                    *why += " (severe: not waiting for the confirm window)";
                } else if (m_settings.guard.confirm.value() > 0) {
                    *why += fmt::format(" (breached for {:.0f} s)", held.value());
                }
                roll_back(now, *why, report);
            }
        } else {
            m_probation->breach_since.reset();
            if (now >= m_probation->until && !m_canary) {
                // The change passed its probation: later changes are judged against now, and its knobs'
                // back-off starts again from the base (a move that works is not held to old failures).
                for (const auto& change : m_probation->changes) m_state[change.first].rollbacks = 0;
                m_probation.reset();
            }
        }
    }
    if (m_canary && now >= m_canary->release_at) {
        Canary canary = std::move(*m_canary);
        m_canary.reset();
        for (const auto& s : canary.rest) m_state[*m_space.find(s.knob)].pending.reset();
        ChangeRequest rest{canary.rest, canary.policy, canary.rationale, canary.predicted};
        rest.announced = canary.announced;
        // The canary held: the rest goes out now (screened again: bounds and back-offs may have changed).
        ShieldReport released = submit_impl(rest, now, true);
        for (auto& out : released.outcomes) {
            if (out.outcome == Outcome::applied || out.outcome == Outcome::clamped) {
                out.reason += (out.reason.empty() ? "" : "; ") + std::string("released after the canary");
            }
            report.outcomes.push_back(std::move(out));
        }
    }
    return report;
}

ShieldReport SafetyShield::restore_all(core::Seconds now, const std::string& reason) {
    ShieldReport report;
    refresh_current();
    std::vector<SettingOutcome> outcomes;
    for (std::size_t k = 0; k < m_space.size(); ++k) {
        const KnobState& state = m_state[k];
        if (!state.original || !m_owners[state.owner].saved) continue;
        const Knob& knob = m_space.at(k);
        if (knob.current == *state.original) continue;
        outcomes.push_back({knob.name, *state.original, knob.current, *state.original, Outcome::restored, reason});
    }
    if (auto restored = restore_all(); !restored) {
        for (auto& out : outcomes) {
            out.outcome = Outcome::failed;
            out.reason = restored.error().message;
        }
    }
    refresh_current();
    for (auto& out : outcomes) {
        out.after = m_space.get(out.knob)->current;
        audit(now, "restore", out, "shield", reason);
        report.outcomes.push_back(std::move(out));
    }
    return report;
}

core::Result<void> SafetyShield::restore_all() {
    std::string errors;
    for (Owner& owner : m_owners) {
        if (!owner.saved) continue;
        if (auto restored = owner.actuator->restore(); !restored) {
            errors += (errors.empty() ? "" : "; ") + restored.error().message;
            continue;
        }
        owner.saved = false;
        ++m_counters.restores;
    }
    m_probation.reset();
    if (m_canary) {
        for (const auto& s : m_canary->rest) m_state[*m_space.find(s.knob)].pending.reset();
        m_canary.reset();
    }
    if (!errors.empty()) return core::fail("shield: restore: " + errors);
    // Everything is back: nothing is left for a crash recovery to do.
    if (m_file && !m_unrecovered && !m_saved.empty()) {
        if (auto removed = m_file->remove(); !removed) return removed;
        m_saved.clear();
    }
    return {};
}

core::Result<ShieldReport> SafetyShield::recover(core::Seconds now) {
    ShieldReport report;
    if (!m_file || !m_file->exists()) {
        m_unrecovered = false;
        return report;
    }
    auto saved = m_file->load();
    if (!saved) return core::fail(saved.error().message);
    refresh_current();
    std::map<std::size_t, std::vector<KnobSetting>> by_owner;
    std::vector<SavedKnob> missing;
    for (const SavedKnob& s : *saved) {
        const auto k = m_space.find(s.knob);
        if (!k || m_owners[m_state[*k].owner].actuator->name() != s.actuator) {
            missing.push_back(s);
            continue;
        }
        by_owner[m_state[*k].owner].push_back({s.knob, s.original});
        report.outcomes.push_back(
            {s.knob, s.original, m_space.at(*k).current, s.original, Outcome::restored, "crash recovery"});
    }
    std::string errors;
    for (auto& [o, settings] : by_owner) {
        auto applied = m_owners[o].actuator->apply(settings);
        if (applied) {
            m_owners[o].actuator->forget_changes();  // the originals are the baseline again
            rebaseline(o);
        }
        if (!applied) {
            errors += (errors.empty() ? "" : "; ") + applied.error().message;
            for (auto& out : report.outcomes) {
                for (const auto& s : settings) {
                    if (s.knob == out.knob) {
                        out.outcome = Outcome::failed;
                        out.after = out.before;
                        out.reason = applied.error().message;
                    }
                }
            }
        }
    }
    refresh_current();
    for (const auto& out : report.outcomes) audit(now, "recover", out, "shield", "restoring originals after a crash");
    if (!missing.empty()) {
        std::string names;
        for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m.actuator + ":" + m.knob;
        errors += (errors.empty() ? "" : "; ") +
                  fmt::format("{} is not on this machine (or not enabled in the config); its original is still in {}",
                              names, m_file->path().string());
    }
    if (!errors.empty()) {
        // Keep only what is still to restore, so a later attempt does not rewrite what is already back.
        std::vector<SavedKnob> left = missing;
        for (const auto& out : report.outcomes) {
            if (out.outcome == Outcome::failed) {
                for (const auto& s : *saved) {
                    if (s.knob == out.knob) left.push_back(s);
                }
            }
        }
        if (auto stored = m_file->store(left); !stored) errors += "; " + stored.error().message;
        return core::fail("crash recovery incomplete: " + errors);
    }
    if (auto removed = m_file->remove(); !removed) return core::fail(removed.error().message);
    m_unrecovered = false;
    return report;
}

void SafetyShield::rebaseline(std::size_t o) {
    // Knobs whose default is "the value found at start" (replicas, batch caps, RAPL limits) were discovered
    // holding what the crashed run left; after recovery their defaults are the originals again, so that a
    // policy returning to the defaults does not write the crashed run's values back.
    const Owner& owner = m_owners[o];
    const std::vector<Knob> fresh = owner.actuator->discover();
    for (std::size_t i = 0; i < owner.knob_count && i < fresh.size(); ++i) {
        Knob& knob = m_space.at(owner.first_knob + i);
        if (fresh[i].name != knob.name) continue;
        knob.default_value = fresh[i].default_value;
        knob.domain = fresh[i].domain;
    }
}

std::vector<KnobStatus> SafetyShield::status() const {
    std::vector<KnobStatus> out;
    for (std::size_t k = 0; k < m_space.size(); ++k) {
        const KnobState& s = m_state[k];
        KnobStatus status;
        status.knob = m_space.at(k).name;
        status.current = m_space.at(k).current;
        status.writable = s.writable && !s.disabled && m_settings.mode == ShieldMode::act;
        status.disabled = s.disabled;
        status.disabled_reason = s.disabled_reason;
        status.consecutive_failures = s.failures;
        status.original = s.original;
        status.last_write = s.last_write;
        if (s.backoff_direction != 0 && s.backoff_until.value() > -1e299) status.backed_off_until = s.backoff_until;
        status.pending = s.pending;
        if (m_probation) {
            for (const auto& c : m_probation->changes) status.on_probation = status.on_probation || c.first == k;
        }
        out.push_back(std::move(status));
    }
    return out;
}

}  // namespace joulepilot::act
