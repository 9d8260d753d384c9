#pragma once
// The sampling engine of `joulepilot measure` (measure_command.cpp is the command around it): which energy
// domains the node offers (counters, power-only meters, their non-overlapping total) and the tracks that
// turn a sequence of sensor reads into joules, mean and peak power per domain over one measured interval
// (a run of the command or the idle baseline).
//
// Not thread-safe: the command's main thread owns the sampler and the NodeSensors it reads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/node_sensors.hpp"
#include "sense/observation.hpp"

namespace joulepilot::cli {

inline constexpr const char* kTotalDomain = "total";

using SteadyTime = std::chrono::steady_clock::time_point;

inline double seconds_between(SteadyTime a, SteadyTime b) {
    return std::chrono::duration<double>(b - a).count();
}
// CPU time of the calling thread, s.
double thread_cpu_seconds();

enum class DomainSource : std::uint8_t { counter, power, sum };

struct Domain {
    std::string name;  // "cpu.0.package", "gpu.3", "hwmon.acpi_power_meter.power1_average", "total"
    DomainSource source = DomainSource::counter;
    std::size_t signal = 0;  // catalog index (counter: J; power: W)
    sense::Provenance provenance = sense::Provenance::measured;
    std::string signal_name;
    std::vector<std::size_t> parts;  // sum: the domains it adds
};

// A power meter without an energy counter: a measured W signal that is not a limit or setting.
// "gpu.0.power_watts" -> "gpu.0", "hwmon.acpi_power_meter.power1_average_watts" ->
// "hwmon.acpi_power_meter.power1_average". Derived power (a counter's rate) is left out: its counter is
// the better source.
std::optional<std::string> power_domain_name(const sense::SignalInfo& info);
// The domain an energy counter measures: sense::energy_domain_name's, and hwmon's energy<N> channels,
// which name their counters "hwmon.amd_energy.energy1_joules_total" (-> "hwmon.amd_energy.energy1").
std::optional<std::string> counter_domain_name(const sense::SignalInfo& info);
// Whether a domain belongs in the total: each package (or die), each DRAM, each GPU, the CPU estimate.
// Never core/uncore (inside their package) nor psys (covers packages and DRAM).
bool adds_to_total(std::string_view name);
// Every counter domain, then power-only meters, then "total" when at least two domains add to it.
std::vector<Domain> find_domains(const sense::SignalCatalog& catalog);
// "cpu.0.package + cpu.0.dram + gpu.0".
std::string total_description(const std::vector<Domain>& domains, const Domain& total);

// One domain over one measured interval (a run or the idle baseline).
class DomainTrack {
public:
    // `value` is the counter (J), the power (W) or, for a sum, the parts' cumulative energy (J).
    void update(std::optional<double> value, double t, DomainSource source, double min_peak_dt);
    void mark_start() { m_valid_at_start = m_valid_now; }

    [[nodiscard]] bool valid_now() const { return m_valid_now; }
    [[nodiscard]] double cumulative_j() const { return m_cumulative_j; }
    // Energy over the interval; nullopt with fewer than two readings.
    [[nodiscard]] std::optional<double> energy_j() const {
        return m_readings >= 2 ? std::optional<double>(m_cumulative_j) : std::nullopt;
    }
    [[nodiscard]] double covered_s() const { return m_readings >= 2 ? m_last_t - m_first_t : 0.0; }
    // Read at both ends: the energy spans the whole interval.
    [[nodiscard]] bool complete() const { return m_valid_at_start && m_valid_now; }
    [[nodiscard]] std::optional<double> peak_w() const { return m_peak_w; }
    // Reads at which this domain had no value (a failed read, a lost GPU).
    [[nodiscard]] std::size_t missing() const { return m_missing; }
    // Reads that reached this domain (with a value or without).
    [[nodiscard]] std::size_t reads() const { return m_readings + m_missing; }

private:
    bool m_seen = false;
    std::size_t m_missing = 0;
    bool m_valid_now = false;
    bool m_valid_at_start = false;
    std::size_t m_readings = 0;
    double m_first_t = 0.0;
    double m_first_value = 0.0;
    double m_last_t = 0.0;
    double m_last_value = 0.0;
    double m_cumulative_j = 0.0;
    double m_anchor_t = 0.0;
    double m_anchor_j = 0.0;
    std::optional<double> m_peak_w;
};

struct DomainResult {
    std::optional<double> energy_j;
    std::optional<double> average_w;
    std::optional<double> peak_w;
    std::optional<double> net_energy_j;  // with an idle baseline
    bool complete = false;
    std::size_t reads = 0;
    std::size_t missing_reads = 0;
};

// Reads the node into tracks for every domain; one per measured interval.
class IntervalSampler {
public:
    IntervalSampler(NodeSensors& node, const std::vector<Domain>& domains, double interval_s)
        : m_node(node),
          m_domains(domains),
          m_tracks(domains.size()),
          m_fresh(domains.size(), false),
          m_observation(node.make_observation()),
          m_min_peak_dt(interval_s / 2) {}

    // One read of the sensors that are due (every sensor with `force`: the reads the joules count from and
    // to). Times are steady-clock seconds since `start`, the interval's start.
    void sample(SteadyTime start, bool force);

    [[nodiscard]] std::size_t samples() const { return m_samples; }
    [[nodiscard]] double cpu_s() const { return m_cpu_s; }
    [[nodiscard]] double end_t() const { return m_end_t; }
    [[nodiscard]] const DomainTrack& track(std::size_t d) const { return m_tracks[d]; }
    // Whether domain `d` was read by the latest sample (a sensor not due keeps its older value).
    [[nodiscard]] bool fresh(std::size_t d) const { return m_fresh[d]; }
    // Called at the end of every sample() (its CPU time counts as sampling cost), with the sampler and the
    // sample's time in s since the interval's start: per-process attribution follows the reads this way.
    using Hook = std::function<void(const IntervalSampler&, double)>;
    void on_sample(Hook hook) { m_hook = std::move(hook); }

private:
    NodeSensors& m_node;
    const std::vector<Domain>& m_domains;
    std::vector<DomainTrack> m_tracks;
    std::vector<bool> m_fresh;  // per domain: read by the latest sample
    sense::Observation m_observation;
    double m_min_peak_dt;
    std::size_t m_samples = 0;
    double m_cpu_s = 0.0;
    double m_end_t = 0.0;
    Hook m_hook;
};

// Joules, mean and peak power of one domain over an interval of `duration_s`.
DomainResult finish_domain(const DomainTrack& track, double duration_s);

}  // namespace joulepilot::cli
