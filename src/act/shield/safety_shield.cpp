#include "act/shield/safety_shield.hpp"

#include <cmath>

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
    }
    return "unknown";
}

std::size_t ShieldReport::count(Outcome outcome) const {
    std::size_t n = 0;
    for (const auto& o : outcomes) n += (o.outcome == outcome) ? 1 : 0;
    return n;
}

SafetyShield::SafetyShield(std::vector<Actuator*> actuators, ShieldMode mode, std::unordered_set<std::string> allowed)
    : m_mode(mode), m_allowed(std::move(allowed)) {
    for (Actuator* actuator : actuators) {
        Owner owner{actuator, m_space.size(), 0};
        for (Knob& knob : actuator->discover()) {
            m_owner_of.push_back(m_owners.size());
            m_space.add(std::move(knob));
            ++owner.knob_count;
        }
        m_owners.push_back(owner);
    }
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

ShieldReport SafetyShield::submit(const ChangeRequest& request) {
    refresh_current();
    ShieldReport report;
    // Settings grouped by owning actuator, so each actuator gets one batch.
    std::vector<std::vector<KnobSetting>> batches(m_owners.size());
    std::vector<std::vector<std::size_t>> batch_outcomes(m_owners.size());

    for (const KnobSetting& setting : request.settings) {
        SettingOutcome out{setting.knob, setting.value, 0, 0, Outcome::unchanged, ""};
        const auto index = m_space.find(setting.knob);
        if (!index) {
            out.outcome = Outcome::refused;
            out.reason = "unknown knob";
            report.outcomes.push_back(std::move(out));
            continue;
        }
        const Knob& knob = m_space.at(*index);
        out.before = out.after = knob.current;
        if (!m_allowed.empty() && m_allowed.count(knob.name) == 0) {
            out.outcome = Outcome::refused;
            out.reason = "not in the allow-list";
            report.outcomes.push_back(std::move(out));
            continue;
        }
        if (!std::isfinite(setting.value)) {
            out.outcome = Outcome::refused;
            out.reason = "value is not a finite number";
            report.outcomes.push_back(std::move(out));
            continue;
        }
        const double value = knob.domain.clamp(setting.value);
        const bool clamped = value != setting.value;
        if (value == knob.current) {
            out.outcome = Outcome::unchanged;
            report.outcomes.push_back(std::move(out));
            continue;
        }
        if (clamped) {
            out.reason = fmt::format("clamped to {} (domain {}..{})", value, knob.domain.min, knob.domain.max);
        }
        if (m_mode != ShieldMode::act) {
            out.outcome = Outcome::not_written;
            out.reason = fmt::format("{} mode: would write {}", to_string(m_mode), value);
            report.outcomes.push_back(std::move(out));
            continue;
        }
        out.after = value;
        out.outcome = clamped ? Outcome::clamped : Outcome::applied;
        const std::size_t owner = m_owner_of[*index];
        batches[owner].push_back({knob.name, value});
        batch_outcomes[owner].push_back(report.outcomes.size());
        report.outcomes.push_back(std::move(out));
    }

    for (std::size_t o = 0; o < m_owners.size(); ++o) {
        if (batches[o].empty()) continue;
        Owner& owner = m_owners[o];
        if (!owner.saved) {
            if (auto saved = owner.actuator->save(); !saved) {
                for (std::size_t k : batch_outcomes[o]) {
                    auto& out = report.outcomes[k];
                    out.outcome = Outcome::failed;
                    out.after = out.before;
                    out.reason = "could not save the original setting: " + saved.error().message;
                }
                continue;
            }
            owner.saved = true;
        }
        if (auto applied = owner.actuator->apply(batches[o]); !applied) {
            for (std::size_t k : batch_outcomes[o]) {
                auto& out = report.outcomes[k];
                out.outcome = Outcome::failed;
                out.after = out.before;
                out.reason = applied.error().message;
            }
        }
    }
    refresh_current();
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
    }
    if (!errors.empty()) return core::fail("shield: restore: " + errors);
    return {};
}

}  // namespace joulepilot::act
