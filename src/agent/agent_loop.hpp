#pragma once
// The closed loop, the same for a real node and for the twin: every sense interval it reads all sensors
// into one Observation; every decide interval it asks the policy for a Decision and submits it to the
// SafetyShield. Time only moves through the injected Clock (the twin's clock runs the simulation while
// the loop "sleeps"), so the loop never knows which world it drives. No exception leaves a tick: a
// failed sensor makes its samples missing and is counted. Runs on one thread, the caller's.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "act/shield/safety_shield.hpp"
#include "core/clock.hpp"
#include "decide/policy.hpp"
#include "learn/observation_window.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::agent {

struct LoopSettings {
    core::Seconds sense_interval{1.0};
    core::Seconds decide_interval{10.0};
    std::size_t history = 120;  // observations kept for the policies
    decide::Constraints constraints;
};

// Gets every observation and decision as it happens (the twin report, later the ledger).
class LoopObserver {
public:
    virtual ~LoopObserver() = default;
    virtual void on_observation(const sense::Observation& observation) = 0;
    virtual void on_decision(core::Seconds time, const decide::Decision& decision,
                             const act::ShieldReport& report) = 0;
};

struct LoopStats {
    std::uint64_t ticks = 0;
    std::uint64_t decisions = 0;
    std::map<std::string, std::uint64_t> sensor_errors;  // by sensor name
};

class AgentLoop {
public:
    AgentLoop(core::Clock& clock, std::vector<sense::Sensor*> sensors, act::SafetyShield& shield,
              decide::Policy& policy, LoopSettings settings, LoopObserver* observer = nullptr);

    // Ticks until the clock reaches `end` (the twin: end of the simulated day). Returns early when
    // stop() was called (from a signal handler flag or another thread).
    void run_until(core::Seconds end);
    // One sense step (and a decide step when due) at the clock's current time.
    void tick();
    void stop() { m_stop = true; }

    [[nodiscard]] const LoopStats& stats() const { return m_stats; }
    [[nodiscard]] const sense::SignalCatalog& catalog() const { return *m_catalog; }

private:
    sense::Observation sense_now();
    void decide_now(core::Seconds now);

    core::Clock& m_clock;
    std::vector<sense::Sensor*> m_sensors;
    std::vector<std::size_t> m_first_signal;  // per sensor: its slice in the catalog
    std::vector<std::size_t> m_signal_count;
    std::shared_ptr<sense::SignalCatalog> m_catalog;
    act::SafetyShield& m_shield;
    decide::Policy& m_policy;
    LoopSettings m_settings;
    LoopObserver* m_observer;
    learn::ObservationWindow m_window;
    core::Seconds m_next_decision{0};
    bool m_first_tick = true;
    volatile bool m_stop = false;
    LoopStats m_stats;
};

}  // namespace joulepilot::agent
