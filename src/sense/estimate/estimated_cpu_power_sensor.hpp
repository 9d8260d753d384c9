#pragma once
// EstimatedCpuPowerSensor: CPU power from a utilisation model, for machines where nothing measures it
// (no RAPL, or RAPL unreadable). It is a model, not a measurement: its signals carry provenance
// `estimated` and names of their own, so a reader can never mix them up with measured RAPL values.
//
//   power = idle + utilisation x (full - idle)
// with utilisation from /proc/stat over the interval since the previous read (NodeCpuSensor's
// definition), `full` the CPU's TDP and `idle` a fraction of it (default 25%, between the SPECpower idle
// figures of current servers and the Cloud Carbon Footprint min/max coefficients, ~0.2).
// Where `full` comes from, first that applies:
//   1. options.full_power: the node's CPU power at full load, whatever this machine sees (set it on VMs);
//   2. the built-in TDP table by /proc/cpuinfo model name: TDP per socket x sockets, scaled by the
//      share of each socket's cores this machine sees ("cpu cores" / the model's cores; a VM's slice).
// With neither, discover() reports Unavailable (with the config fix) and offers no signal.
//
// Signals:
//   cpu.estimated_power_watts           W  estimated  mean modelled power over the last interval
//   cpu.estimated_energy_joules_total   J  estimated  modelled energy since discover()
//
// Not thread-safe: owned by the loop thread. Holds references to `fs` and `clock`, which must outlive it.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/procfs/node_cpu_sensor.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct EstimatedCpuPowerOptions {
    std::optional<core::Watts> full_power;  // CPU power of the whole node at 100% utilisation
    std::optional<core::Watts> idle_power;  // at 0%; default idle_fraction x full
    double idle_fraction = 0.25;
    std::string proc_dir = "proc";
};

class EstimatedCpuPowerSensor final : public Sensor {
public:
    EstimatedCpuPowerSensor(const core::RootedFs& fs, const core::Clock& clock,
                            EstimatedCpuPowerOptions options = {});

    [[nodiscard]] std::string name() const override { return "estimate.cpu"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    // The model's parameters after discover() (nullopt when unavailable), and where they came from.
    [[nodiscard]] std::optional<core::Watts> full_power() const { return m_full; }
    [[nodiscard]] std::optional<core::Watts> idle_power() const { return m_idle; }
    [[nodiscard]] const std::string& basis() const { return m_basis; }

private:
    const core::RootedFs& m_fs;
    const core::Clock& m_clock;
    EstimatedCpuPowerOptions m_options;
    std::optional<core::Watts> m_full;
    std::optional<core::Watts> m_idle;
    std::string m_basis;  // "config", or "table: EPYC 7763, 280 W x 2 sockets x 100% of cores"
    std::optional<CpuTimes> m_previous;
    core::Seconds m_previous_time{0};
    core::Joules m_energy{0};
    std::vector<Unavailable> m_unavailable;
};

}  // namespace joulepilot::sense
