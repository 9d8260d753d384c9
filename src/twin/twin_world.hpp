#pragma once
// The digital twin as a world the agent loop can drive: a Clock whose sleep_until runs the fleet
// simulation, a Sensor with the same kind of signals a GPU node offers (twin_signals.hpp), and an
// Actuator with the fleet's knobs. The loop cannot tell it from a real node. After the run,
// summarize() turns the simulation's ground truth into the run's headline numbers and timeline.
// Not thread-safe: one loop thread drives it.

#include <concepts>
#include <memory>
#include <string>

#include "act/actuator.hpp"
#include "core/clock.hpp"
#include "sense/sensor.hpp"
#include "twin/facility/facility_model.hpp"
#include "twin/fleet/fleet_sim.hpp"
#include "twin/run_summary.hpp"

namespace joulepilot::twin {

class TwinWorld {
public:
    // `start_unix_s`: the wall-clock moment simulated second 0 stands for (carbon, price and weather
    // are looked up at start + t). `timeline_interval_s`: resolution of the summary's timeline.
    TwinWorld(const ReplicaModel& model, const FacilityModel& facility, FleetConfig config, Workload workload,
              double start_unix_s, double timeline_interval_s = 300);
    // The workload as a stream (Scenario::source->open()): requests are read as the simulation reaches them.
    // A template so that `{}` for the workload still means an empty Workload (the bench's probe world).
    template <std::derived_from<RequestStream> Stream>
    TwinWorld(const ReplicaModel& model, const FacilityModel& facility, FleetConfig config,
              std::unique_ptr<Stream> workload, double start_unix_s, double timeline_interval_s = 300)
        : TwinWorld(StreamTag{}, model, facility, config, std::unique_ptr<RequestStream>(std::move(workload)),
                    start_unix_s, timeline_interval_s) {}
    ~TwinWorld();
    TwinWorld(const TwinWorld&) = delete;
    TwinWorld& operator=(const TwinWorld&) = delete;

    [[nodiscard]] core::Clock& clock();
    [[nodiscard]] sense::Sensor& sensor();
    [[nodiscard]] act::Actuator& actuator();
    [[nodiscard]] FleetSim& fleet() { return m_fleet; }
    [[nodiscard]] const FleetSim& fleet() const { return m_fleet; }

    // Headline numbers over [0, fleet().now()): requests that arrived but did not finish count as SLO
    // misses and add no tokens.
    [[nodiscard]] RunSummary summarize(const std::string& scenario, const std::string& policy,
                                       double sim_wall_s) const;

private:
    struct StreamTag {};
    TwinWorld(StreamTag, const ReplicaModel& model, const FacilityModel& facility, FleetConfig config,
              std::unique_ptr<RequestStream> workload, double start_unix_s, double timeline_interval_s);

    class Clock;
    class Sensor;
    class Actuator;

    const FacilityModel& m_facility;
    FleetSim m_fleet;
    double m_start_unix_s;
    double m_timeline_interval_s;
    std::unique_ptr<Clock> m_clock;
    std::unique_ptr<Sensor> m_sensor;
    std::unique_ptr<Actuator> m_actuator;
};

}  // namespace joulepilot::twin
