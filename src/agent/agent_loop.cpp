#include "agent/agent_loop.hpp"

#include <exception>
#include <span>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace joulepilot::agent {

namespace {

// The service signals the SLO guard judges, in act::ServiceHealth's order, each with the names it goes by
// (the twin's first, then the Prometheus sensor's; the first one the catalog has is used).
const std::vector<std::vector<const char*>> kHealthSignals = {
    {"service.slo_attainment_ratio"},
    {"service.ttft_p99_seconds"},
    {"service.tpot_p99_seconds"},
    {"service.throughput_tokens_per_second", "service.output_tokens_per_second"},
    {"fleet.arrival_rate_rps", "service.request_rate_rps"},
};

std::string describe(const decide::PredictedEffect& p) {
    std::string out;
    auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
    if (p.fleet_power) add(fmt::format("fleet power {:.0f} W", p.fleet_power->value()));
    if (p.p99_ttft) add(fmt::format("p99 TTFT {:.3f} s", p.p99_ttft->value()));
    if (p.p99_tpot) add(fmt::format("p99 TPOT {:.4f} s", p.p99_tpot->value()));
    return out;
}

}  // namespace

AgentLoop::AgentLoop(core::Clock& clock, std::vector<sense::Sensor*> sensors, act::SafetyShield& shield,
                     decide::Policy& policy, LoopSettings settings, LoopObserver* observer)
    : m_clock(clock),
      m_sensors(std::move(sensors)),
      m_catalog(std::make_shared<sense::SignalCatalog>()),
      m_shield(shield),
      m_policy(&policy),
      m_settings(settings),
      m_observer(observer),
      m_window(settings.history) {
    for (sense::Sensor* sensor : m_sensors) {
        m_first_signal.push_back(m_catalog->size());
        std::size_t count = 0;
        for (sense::SignalInfo& info : sensor->discover()) {
            m_catalog->add(std::move(info));
            ++count;
        }
        m_signal_count.push_back(count);
    }
    for (const auto& names : kHealthSignals) {
        std::optional<std::size_t> found;
        for (const char* name : names) {
            if (!found) found = m_catalog->find(name);
        }
        m_health_signals.push_back(found);
    }
}

sense::Observation AgentLoop::sense_now() {
    sense::Observation observation(m_catalog);
    observation.time = m_clock.now();
    auto& samples = observation.samples();
    for (std::size_t s = 0; s < m_sensors.size(); ++s) {
        std::span<sense::Sample> slice(samples.data() + m_first_signal[s], m_signal_count[s]);
        core::Result<void> read;
        try {
            read = m_sensors[s]->read(slice);
        } catch (const std::exception& e) {
            read = core::fail(e.what());
        }
        if (!read) {
            for (auto& sample : slice) sample.valid = false;
            const auto count = ++m_stats.sensor_errors[m_sensors[s]->name()];
            if (count == 1 || count % 1000 == 0) {
                spdlog::warn("sensor {}: {} ({} errors so far)", m_sensors[s]->name(), read.error().message, count);
            }
        }
    }
    return observation;
}

std::pair<decide::Decision, act::ShieldReport> AgentLoop::decide_now(core::Seconds now) {
    const learn::ModelState state{now, m_window};
    decide::Decision decision = m_policy->decide(state, m_shield.knob_space(), m_settings.constraints);
    act::ChangeRequest request{decision.settings, std::string(m_policy->name()), decision.rationale,
                               describe(decision.predicted)};
    // The policy's predicted latency bounds, for the SLO guard to judge the move against.
    if (decision.predicted.p99_ttft) request.announced.ttft_p99_s = decision.predicted.p99_ttft->value();
    if (decision.predicted.p99_tpot) request.announced.tpot_p99_s = decision.predicted.p99_tpot->value();
    act::ShieldReport report = m_shield.submit(request, now);
    ++m_stats.decisions;
    if (m_observer != nullptr) m_observer->on_decision(now, decision, report);
    return {std::move(decision), std::move(report)};
}

void AgentLoop::guard_now(const sense::Observation& observation) {
    auto value = [&](std::size_t i) -> std::optional<double> {
        return m_health_signals[i] ? observation.get(*m_health_signals[i]) : std::nullopt;
    };
    const act::ServiceHealth health{value(0), value(1), value(2), value(3), value(4), std::nullopt};
    const act::ShieldReport report = m_shield.on_tick(observation.time, health);
    if (report.outcomes.empty()) return;
    m_stats.rollbacks += report.count(act::Outcome::rolled_back) > 0 ? 1 : 0;
    if (m_observer != nullptr) m_observer->on_shield_tick(observation.time, report);
}

void AgentLoop::tick() {
    const core::Seconds now = m_clock.now();
    if (m_first_tick) {
        m_next_decision = now + m_settings.decide_interval;
        m_first_tick = false;
    }
    sense::Observation observation = sense_now();
    if (m_observer != nullptr) m_observer->on_observation(observation);
    guard_now(observation);
    m_window.push(std::move(observation));
    ++m_stats.ticks;
    if (now >= m_next_decision) {
        decide_now(now);
        while (m_next_decision <= now) m_next_decision += m_settings.decide_interval;
    }
    m_stats.last_tick = now;
    if (m_observer != nullptr) m_observer->after_tick(now);
}

void AgentLoop::run_until(core::Seconds end) {
    core::Seconds next = m_clock.now();
    while (!m_stop && next <= end) {
        m_clock.sleep_until(next);
        if (m_stop) break;
        // A tick that starts a whole interval late missed its deadline (the host was too busy, or a
        // sensor blocked); skip the ticks that are already past instead of bunching them up.
        if (m_clock.now() >= next + m_settings.sense_interval) {
            ++m_stats.deadline_misses;
            while (next + m_settings.sense_interval <= m_clock.now()) next += m_settings.sense_interval;
        }
        tick();
        next += m_settings.sense_interval;
    }
}

}  // namespace joulepilot::agent
