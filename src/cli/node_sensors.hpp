#pragma once
// NodeSensors: every sensor this machine offers (DESIGN.md section 2, "node"), discovered once, for
// `joulepilot sensors` and `joulepilot measure`. One place decides what a node is made of:
//   rapl         powercap RAPL counters (packages, dies, core/uncore/dram, psys)
//   procfs.cpu   node CPU time and utilisation from /proc/stat
//   hwmon        hwmon chips by name (power meters, energy counters, temperatures)
//   nvml         NVIDIA GPUs, NVML loaded at run time (path from the options, $JOULEPILOT_NVML_LIBRARY, or
//                libnvidia-ml.so.1)
//   ipmi_dcmi    BMC node power, only when asked: each read runs ipmi-dcmi (tens to hundreds of ms)
//   estimate.cpu the utilisation x TDP model, ONLY when no RAPL package counter is readable, so an estimate
//                is never shown beside (or summed with) the measurement it stands in for
// Every sysfs/procfs path is read below `root`, so tests and `--root` run on fixture trees.
// apply_node_config() reads the config file's [nvml] and [estimate] sections into the options
// (docs/config.md).
//
// The catalog of all signals is fixed at construction; read() fills one Observation from every active
// sensor that is due, each into its own slice. A sensor may have a minimum interval between reads (an
// NVML energy read costs ~3.4 ms of CPU on an H100 with driver 580: reading 8 GPUs ten times a second
// would take a quarter of a core); a sensor not due keeps its previous samples and is marked not fresh.
// A sensor whose read fails leaves its samples missing; the failure is counted and its message kept,
// nothing throws.
//
// Not thread-safe: one owner reads it (the command's main thread). Owns the filesystem root and the clock
// the sensors hold references to, so it is neither copyable nor movable.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/observation.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {
class NvmlSensor;
}

namespace joulepilot::cli {

struct NodeSensorOptions {
    std::filesystem::path root = "/";
    // The NVML library; empty: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1.
    std::string nvml_library;
    // IPMI DCMI node power through FreeIPMI (slow: a child process per read).
    bool ipmi = false;
    // Only the GPUs' energy counters (one NVML call per GPU per read), for callers that meter energy.
    bool nvml_energy_only = false;
    // Least time between two reads of the NVML sensor (a forced read ignores it); 0: every read.
    std::chrono::milliseconds nvml_min_interval{0};
    // Full NVML mode: least time between two energy counter reads, integrated power in between (see
    // sense/nvml/nvml_sensor.hpp); 0: the counter on every read.
    core::Seconds nvml_energy_read_interval{5.0};
    // The CPU power model (used only when no RAPL package counter is readable): the node's CPU power at
    // full load (sum of the sockets' TDP); nullopt: the built-in TDP table. Idle is idle_fraction of it.
    std::optional<core::Watts> cpu_tdp;
    double cpu_idle_fraction = 0.25;
};

// Reads [nvml] library / energy_read_interval_s and [estimate] tdp_watts / idle_fraction into `options`.
// A library given on the command line (already in options) or in $JOULEPILOT_NVML_LIBRARY wins over the
// file's. Throws core::ConfigError on a bad value; the caller rejects unknown keys after all readers ran.
void apply_node_config(core::ConfigSection root, NodeSensorOptions& options);

// One discovered sensor and where its signals sit in the catalog.
struct NodeSensor {
    std::unique_ptr<sense::Sensor> sensor;
    std::size_t first_signal = 0;  // its slice of the catalog: [first_signal, first_signal + signal_count)
    std::size_t signal_count = 0;
    // Facts worth showing beside the signals: zones left out as duplicates, the GPUs found, the basis of
    // an estimate and why it is used.
    std::vector<std::string> notes;
    bool active = true;                                  // read() reads it (when due)
    std::chrono::steady_clock::duration min_interval{};  // least time between two reads
    std::chrono::steady_clock::time_point last_read{};   // of the latest read; epoch: never read
    bool fresh = false;                                  // read by the latest read() call
    std::uint64_t read_failures = 0;                     // reads that returned an error
    std::string last_error;                              // the latest one; empty when none
};

class NodeSensors {
public:
    // Discovers every sensor (see the header comment for which, and when the estimate is added).
    explicit NodeSensors(NodeSensorOptions options);
    ~NodeSensors();
    NodeSensors(const NodeSensors&) = delete;
    NodeSensors& operator=(const NodeSensors&) = delete;
    NodeSensors(NodeSensors&&) = delete;
    NodeSensors& operator=(NodeSensors&&) = delete;

    [[nodiscard]] const std::vector<NodeSensor>& sensors() const { return m_sensors; }
    [[nodiscard]] const sense::SignalCatalog& catalog() const { return *m_catalog; }
    [[nodiscard]] const NodeSensorOptions& options() const { return m_options; }
    [[nodiscard]] const core::RootedFs& fs() const { return m_fs; }
    // The NVML sensor (for per-process GPU use); null only if construction failed part way.
    [[nodiscard]] sense::NvmlSensor* nvml() const { return m_nvml; }
    // True when the estimated CPU power sensor stands in for RAPL.
    [[nodiscard]] bool cpu_estimated() const { return m_cpu_estimated; }

    // Everything the sensors could not offer, sensor by sensor, in sensors() order.
    [[nodiscard]] std::vector<sense::Unavailable> unavailable() const;
    // Reads only the sensors that have at least one catalog signal for which keep(index) is true (the
    // others cost nothing per read).
    template <class Keep>
    void keep_active_where(Keep keep) {
        for (NodeSensor& s : m_sensors) {
            s.active = false;
            for (std::size_t i = s.first_signal; i < s.first_signal + s.signal_count; ++i) {
                if (keep(i)) s.active = true;
            }
        }
    }

    // A new observation over catalog(), all samples missing.
    [[nodiscard]] sense::Observation make_observation() const { return sense::Observation(m_catalog); }
    // Reads every active sensor that is due (all of them with force) into its slice of `observation`
    // (made by make_observation()); stamps it with the clock. Returns how many sensors failed this time
    // (their samples are missing).
    std::size_t read(sense::Observation& observation, bool force = true);
    // Whether catalog signal `signal` was read by the latest read() (false: its sample is older).
    [[nodiscard]] bool fresh(std::size_t signal) const { return m_sensors[m_sensor_of_signal[signal]].fresh; }

private:
    void add(std::unique_ptr<sense::Sensor> sensor);

    NodeSensorOptions m_options;
    core::RootedFs m_fs;
    core::SystemClock m_clock;
    std::shared_ptr<sense::SignalCatalog> m_catalog;
    std::vector<NodeSensor> m_sensors;            // declared after m_fs and m_clock: destroyed before them
    std::vector<std::size_t> m_sensor_of_signal;  // catalog index -> index in m_sensors
    bool m_cpu_estimated = false;
    sense::NvmlSensor* m_nvml = nullptr;  // owned by m_sensors
};

}  // namespace joulepilot::cli
