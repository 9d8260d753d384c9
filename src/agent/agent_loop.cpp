#include "agent/agent_loop.hpp"

#include <exception>
#include <span>

#include <spdlog/spdlog.h>

namespace joulepilot::agent {

AgentLoop::AgentLoop(core::Clock& clock, std::vector<sense::Sensor*> sensors, act::SafetyShield& shield,
                     decide::Policy& policy, LoopSettings settings, LoopObserver* observer)
    : m_clock(clock),
      m_sensors(std::move(sensors)),
      m_catalog(std::make_shared<sense::SignalCatalog>()),
      m_shield(shield),
      m_policy(policy),
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

void AgentLoop::decide_now(core::Seconds now) {
    const learn::ModelState state{now, m_window};
    decide::Decision decision = m_policy.decide(state, m_shield.knob_space(), m_settings.constraints);
    act::ChangeRequest request{decision.settings, std::string(m_policy.name()), decision.rationale};
    const act::ShieldReport report = m_shield.submit(request);
    ++m_stats.decisions;
    if (m_observer != nullptr) m_observer->on_decision(now, decision, report);
}

void AgentLoop::tick() {
    const core::Seconds now = m_clock.now();
    if (m_first_tick) {
        m_next_decision = now + m_settings.decide_interval;
        m_first_tick = false;
    }
    sense::Observation observation = sense_now();
    if (m_observer != nullptr) m_observer->on_observation(observation);
    m_window.push(std::move(observation));
    ++m_stats.ticks;
    if (now >= m_next_decision) {
        decide_now(now);
        while (m_next_decision <= now) m_next_decision += m_settings.decide_interval;
    }
}

void AgentLoop::run_until(core::Seconds end) {
    core::Seconds next = m_clock.now();
    while (!m_stop && next <= end) {
        m_clock.sleep_until(next);
        tick();
        next += m_settings.sense_interval;
    }
}

}  // namespace joulepilot::agent
