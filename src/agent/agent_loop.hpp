#pragma once
// The closed loop, the same for a real node and for the twin: every sense interval it reads all sensors
// into one Observation; every decide interval it asks the policy for a Decision and submits it to the
// SafetyShield. Time only moves through the injected Clock (the twin's clock runs the simulation while
// the loop "sleeps"), so the loop never knows which world it drives. No exception leaves a tick: a
// failed sensor makes its samples missing and is counted. Runs on one thread, the caller's.

#include <atomic>
#include <cstdint>
#include <utility>
#include <map>
#include <memory>
#include <optional>
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
    // What the shield did on its own at a tick: canary releases, SLO-guard rollbacks. Only called when it
    // did something.
    virtual void on_shield_tick(core::Seconds /*time*/, const act::ShieldReport& /*report*/) {}
    // At the end of every tick, on the loop thread: the place to run commands that need the policy or the
    // shield (the daemon's API commands).
    virtual void after_tick(core::Seconds /*time*/) {}
};

struct LoopStats {
    std::uint64_t ticks = 0;
    std::uint64_t decisions = 0;
    std::uint64_t rollbacks = 0;  // SLO-guard rollbacks
    std::uint64_t deadline_misses = 0;  // ticks that started later than a sense interval after their time
    core::Seconds last_tick{0};
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
    // A decision now, submitted to the shield (the daemon's POST /v1/optimize). Loop thread only.
    std::pair<decide::Decision, act::ShieldReport> decide_now(core::Seconds now);
    // Switches policy between ticks (the daemon's PUT /v1/policy). The loop does not own it. Loop thread only.
    void set_policy(decide::Policy& policy) { m_policy = &policy; }
    [[nodiscard]] decide::Policy& policy() const { return *m_policy; }
    [[nodiscard]] act::SafetyShield& shield() const { return m_shield; }
    [[nodiscard]] const learn::ObservationWindow& window() const { return m_window; }

    [[nodiscard]] const LoopStats& stats() const { return m_stats; }
    [[nodiscard]] const sense::SignalCatalog& catalog() const { return *m_catalog; }

private:
    sense::Observation sense_now();
    void guard_now(const sense::Observation& observation);

    core::Clock& m_clock;
    std::vector<sense::Sensor*> m_sensors;
    std::vector<std::size_t> m_first_signal;  // per sensor: its slice in the catalog
    std::vector<std::size_t> m_signal_count;
    std::shared_ptr<sense::SignalCatalog> m_catalog;
    act::SafetyShield& m_shield;
    decide::Policy* m_policy;
    LoopSettings m_settings;
    LoopObserver* m_observer;
    learn::ObservationWindow m_window;
    std::vector<std::optional<std::size_t>> m_health_signals;  // catalog indices of the service.* signals
    core::Seconds m_next_decision{0};
    bool m_first_tick = true;
    std::atomic<bool> m_stop{false};
    LoopStats m_stats;
};

}  // namespace joulepilot::agent
