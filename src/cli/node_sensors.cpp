#include "cli/node_sensors.hpp"

#include <cstdlib>
#include <span>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "sense/estimate/estimated_cpu_power_sensor.hpp"
#include "sense/hwmon/hwmon_sensor.hpp"
#include "sense/hwmon/ipmi_dcmi_sensor.hpp"
#include "sense/nvml/nvml_sensor.hpp"
#include "sense/procfs/node_cpu_sensor.hpp"
#include "sense/rapl/rapl_sensor.hpp"

namespace joulepilot::cli {
namespace {

constexpr std::string_view kPackageEnergySuffix = "package_energy_joules_total";

std::vector<std::string> rapl_notes(const sense::RaplSensor& rapl) {
    std::vector<std::string> notes;
    for (const sense::SkippedZone& zone : rapl.skipped()) {
        notes.push_back(fmt::format("left out {}: {}", zone.id, zone.reason));
    }
    return notes;
}

std::vector<std::string> nvml_notes(const sense::NvmlSensor& nvml, const NodeSensorOptions& options) {
    std::vector<std::string> notes;
    if (!nvml.available()) return notes;
    notes.push_back("library " + nvml.library_path());
    if (!options.nvml_energy_only && options.nvml_energy_read_interval.value() > 0) {
        notes.push_back(fmt::format(
            "energy counter read every {:g} s (each read costs ms of CPU), power integrated in between",
            options.nvml_energy_read_interval.value()));
    }
    for (const sense::NvmlGpuInfo& gpu : nvml.gpus()) {
        notes.push_back(fmt::format("GPU {}: {}{}{}{}", gpu.index, gpu.name.empty() ? "(no name)" : gpu.name,
                                    gpu.uuid.empty() ? "" : ", " + gpu.uuid,
                                    gpu.mig_enabled ? ", MIG enabled (counted once, as the whole GPU)" : "",
                                    gpu.power_instant ? ", instant power field" : ""));
    }
    return notes;
}

}  // namespace

void apply_node_config(core::ConfigSection root, NodeSensorOptions& options) {
    const core::ConfigSection nvml = root.section("nvml");
    const std::string library = nvml.string("library", "");
    const char* from_env = std::getenv("JOULEPILOT_NVML_LIBRARY");
    if (options.nvml_library.empty() && (from_env == nullptr || *from_env == '\0')) {
        options.nvml_library = library;
    }
    options.nvml_energy_read_interval = core::Seconds(
        nvml.number("energy_read_interval_s", options.nvml_energy_read_interval.value(), 0.0, 3600.0));

    const core::ConfigSection estimate = root.section("estimate");
    if (estimate.has("tdp_watts")) {
        options.cpu_tdp = core::Watts(estimate.number("tdp_watts", 0.0, 1.0, 100000.0));
    }
    options.cpu_idle_fraction = estimate.number("idle_fraction", options.cpu_idle_fraction, 0.0, 1.0);
}

NodeSensors::NodeSensors(NodeSensorOptions options)
    : m_options(std::move(options)),
      m_fs(m_options.root),
      m_catalog(std::make_shared<sense::SignalCatalog>()) {
    auto rapl = std::make_unique<sense::RaplSensor>(m_fs, m_clock);
    sense::RaplSensor& rapl_ref = *rapl;
    const std::size_t rapl_index = m_sensors.size();
    add(std::move(rapl));
    add(std::make_unique<sense::NodeCpuSensor>(m_fs));
    add(std::make_unique<sense::HwmonSensor>(m_fs, m_clock));

    sense::NvmlSensorOptions nvml_options;
    nvml_options.library_path = m_options.nvml_library;
    nvml_options.energy_only = m_options.nvml_energy_only;
    nvml_options.energy_read_interval = m_options.nvml_energy_read_interval;
    auto nvml = std::make_unique<sense::NvmlSensor>(std::move(nvml_options), m_clock);
    m_nvml = nvml.get();
    sense::NvmlSensor& nvml_ref = *nvml;
    const std::size_t nvml_index = m_sensors.size();
    add(std::move(nvml));
    m_sensors[nvml_index].min_interval = m_options.nvml_min_interval;
    if (m_options.ipmi) add(std::make_unique<sense::IpmiDcmiSensor>());

    // Notes are gathered after discovery, which is what fills them.
    m_sensors[rapl_index].notes = rapl_notes(rapl_ref);
    m_sensors[nvml_index].notes = nvml_notes(nvml_ref, m_options);

    // The estimate stands in for RAPL only: with any package counter readable it would be a second,
    // worse number for the same joules.
    bool package_measured = false;
    for (const std::string& signal : rapl_ref.node_total_signals()) {
        if (std::string_view(signal).ends_with(kPackageEnergySuffix)) package_measured = true;
    }
    if (!package_measured) {
        sense::EstimatedCpuPowerOptions estimate_options;
        estimate_options.full_power = m_options.cpu_tdp;
        estimate_options.idle_fraction = m_options.cpu_idle_fraction;
        auto estimate = std::make_unique<sense::EstimatedCpuPowerSensor>(m_fs, m_clock, estimate_options);
        sense::EstimatedCpuPowerSensor& estimate_ref = *estimate;
        add(std::move(estimate));
        if (estimate_ref.full_power()) {
            m_cpu_estimated = true;
            m_sensors.back().notes = {
                "used because no RAPL package energy counter is readable; a model, not a measurement",
                fmt::format("model: idle {:.0f} W + utilisation x ({:.0f} W - idle); {}",
                            estimate_ref.idle_power()->value(), estimate_ref.full_power()->value(),
                            estimate_ref.basis())};
        }
    }
}

NodeSensors::~NodeSensors() = default;

void NodeSensors::add(std::unique_ptr<sense::Sensor> sensor) {
    NodeSensor slot;
    slot.first_signal = m_catalog->size();
    for (sense::SignalInfo& info : sensor->discover()) {
        m_catalog->add(std::move(info));
        m_sensor_of_signal.push_back(m_sensors.size());
        ++slot.signal_count;
    }
    slot.sensor = std::move(sensor);
    m_sensors.push_back(std::move(slot));
}

std::vector<sense::Unavailable> NodeSensors::unavailable() const {
    std::vector<sense::Unavailable> out;
    for (const NodeSensor& s : m_sensors) {
        for (sense::Unavailable& entry : s.sensor->unavailable()) out.push_back(std::move(entry));
    }
    return out;
}

std::size_t NodeSensors::read(sense::Observation& observation, bool force) {
    std::size_t failed = 0;
    std::vector<sense::Sample>& samples = observation.samples();
    const auto now = std::chrono::steady_clock::now();
    for (NodeSensor& s : m_sensors) {
        s.fresh = false;
        if (!s.active || s.signal_count == 0) continue;
        // A tenth of the interval early still counts as due: ticks jitter by a few milliseconds, and a
        // read that just misses its time would otherwise wait a whole extra tick.
        const bool due = force || s.last_read == std::chrono::steady_clock::time_point{} ||
                         now - s.last_read >= s.min_interval - s.min_interval / 10;
        if (!due) continue;
        s.fresh = true;
        s.last_read = now;
        const std::span<sense::Sample> slice(samples.data() + s.first_signal, s.signal_count);
        if (auto result = s.sensor->read(slice); !result) {
            // The sensor's contract: an error means its whole slice is missing. Make sure of it.
            for (sense::Sample& sample : slice) sample = sense::Sample{};
            ++s.read_failures;
            s.last_error = std::move(result.error().message);
            ++failed;
        }
    }
    observation.time = m_clock.now();
    return failed;
}

}  // namespace joulepilot::cli
