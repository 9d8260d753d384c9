#pragma once
// A hand-made stand-in for the twin world, for policy tests: a SignalCatalog with the twin's signal
// names (src/twin/twin_signals.hpp), a KnobSpace with the twin's knobs and domains, and an
// ObservationWindow fed one observation per simulated second. Signal values persist from one
// observation to the next until a test changes them; `missing` makes a signal unreadable.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "act/knob.hpp"
#include "decide/policy.hpp"
#include "learn/model_state.hpp"
#include "learn/observation_window.hpp"
#include "sense/observation.hpp"

namespace joulepilot::decide::testing {

inline std::string gpu(int i, const char* what) { return "gpu." + std::to_string(i) + "." + what; }
inline std::string replica(int i, const char* what) { return "replica." + std::to_string(i) + "." + what; }

class FleetFixture {
public:
    explicit FleetFixture(int replicas, std::size_t history = 120) : m_replicas(replicas), m_window(history) {
        auto catalog = std::make_shared<sense::SignalCatalog>();
        const auto add = [&](const std::string& name, const char* unit, double initial) {
            catalog->add({name, unit, sense::Provenance::measured, ""});
            m_values[name] = initial;
        };
        for (int i = 0; i < replicas; ++i) {
            add(gpu(i, "utilization_ratio"), "ratio", 0.5);
            add(gpu(i, "sm_activity_ratio"), "ratio", 0.4);
            add(gpu(i, "memory_activity_ratio"), "ratio", 0.3);
            add(gpu(i, "power_watts"), "W", 400);
            add(gpu(i, "energy_joules_total"), "J", 0);
            add(gpu(i, "sm_clock_hz"), "Hz", 1980e6);
            add(replica(i, "queue_requests"), "requests", 0);
            add(replica(i, "running_requests"), "requests", 8);
            add(replica(i, "state"), "state", 2);
        }
        add("fleet.arrival_rate_rps", "requests/s", 5);
        add("fleet.prompt_tokens_per_s", "tokens/s", 5000);
        add("fleet.generation_tokens_per_s", "tokens/s", 2000);
        add("fleet.queue_requests", "requests", 0);
        add("fleet.power_watts", "W", 400.0 * replicas);
        add("service.ttft_p99_seconds", "s", 0.2);
        add("service.tpot_p99_seconds", "s", 0.03);
        add("service.slo_attainment_ratio", "ratio", 1.0);
        m_catalog = std::move(catalog);

        for (int i = 0; i < replicas; ++i) {
            m_knobs.add(
                {gpu(i, "sm_clock_cap_hz"), "Hz", act::KnobDomain{210e6, 1980e6, 15e6, {}}, 1980e6, 1980e6});
            m_knobs.add({gpu(i, "power_limit_watts"), "W", act::KnobDomain{200, 700, 10, {}}, 700, 700});
            m_knobs.add({replica(i, "batch_cap"), "sequences",
                         act::KnobDomain{8, 512, 0, {8, 16, 32, 64, 96, 128, 192, 256, 384, 512}}, 256, 256});
            m_knobs.add({replica(i, "precision"), "0=bf16,1=fp8", act::KnobDomain{0, 1, 0, {0, 1}}, 0, 0});
            m_knobs.add({replica(i, "active"), "0=parked,1=serving", act::KnobDomain{0, 1, 0, {0, 1}}, 1, 1});
        }
    }

    [[nodiscard]] int replicas() const { return m_replicas; }
    void set(const std::string& signal, double value) {
        m_values.at(signal) = value;
        m_missing.erase(signal);
    }
    void missing(const std::string& signal) {
        (void)m_values.at(signal);  // a typo in a test must fail, not silently add nothing
        m_missing.insert(signal);
    }
    // Sets every replica's idle signals (activity, queue, running) at once.
    void set_idle(int i, bool idle) {
        set(gpu(i, "utilization_ratio"), idle ? 0.0 : 0.5);
        set(gpu(i, "sm_activity_ratio"), idle ? 0.02 : 0.4);
        set(gpu(i, "memory_activity_ratio"), idle ? 0.01 : 0.3);
        set(replica(i, "queue_requests"), 0);
        set(replica(i, "running_requests"), idle ? 0 : 8);
    }
    // Parks replica i in the world: state 0, no activity, knob off.
    void park(int i) {
        set_idle(i, true);
        set(replica(i, "state"), 0);
        knob(replica(i, "active")).current = 0;
    }

    // One observation at the current time, then the clock moves one second on.
    void push(int count = 1) {
        for (int c = 0; c < count; ++c) {
            sense::Observation observation(m_catalog);
            observation.time = m_time;
            for (std::size_t s = 0; s < m_catalog->size(); ++s) {
                const std::string& name = m_catalog->info(s).name;
                observation.samples()[s] = {m_values.at(name), m_missing.count(name) == 0};
            }
            m_window.push(std::move(observation));
            m_last = m_time;
            m_time += core::Seconds(1);
        }
    }

    [[nodiscard]] learn::ModelState state() const { return {m_last, m_window}; }
    act::KnobSpace& knobs() { return m_knobs; }
    act::Knob& knob(const std::string& name) { return m_knobs.at(*m_knobs.find(name)); }

    Decision decide(Policy& policy, const Constraints& constraints = {}) {
        return policy.decide(state(), m_knobs, constraints);
    }
    // Makes the world follow a decision: knob values change (the replica state signal does not; tests
    // move it themselves when it matters).
    void apply(const Decision& decision) {
        for (const act::KnobSetting& setting : decision.settings) knob(setting.knob).current = setting.value;
    }

private:
    int m_replicas;
    std::shared_ptr<const sense::SignalCatalog> m_catalog;
    std::map<std::string, double> m_values;
    std::set<std::string> m_missing;
    learn::ObservationWindow m_window;
    act::KnobSpace m_knobs;
    core::Seconds m_time{0};
    core::Seconds m_last{0};
};

// The value a decision sets for a knob, if it sets it.
inline std::optional<double> setting_of(const Decision& decision, const std::string& knob) {
    for (const act::KnobSetting& s : decision.settings) {
        if (s.knob == knob) return s.value;
    }
    return std::nullopt;
}

}  // namespace joulepilot::decide::testing
