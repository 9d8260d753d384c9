// `joulepilot sensors`: what this machine can measure, with current values, where each value comes from,
// and for everything it cannot measure, why and how to fix it. Thin: discovery is NodeSensors.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/node_sensors.hpp"

namespace joulepilot::cli {
namespace {

// Two reads this far apart give rates (power, utilisation) a value; long enough for RAPL and NVML to
// have updated many times, short enough not to keep a person waiting.
constexpr std::chrono::milliseconds kSecondReadAfter{200};

struct SensorsOptions {
    bool json = false;
    std::string root = "/";
    std::string nvml_library;
    std::string config_path;
    bool ipmi = false;
};

std::string format_value(const sense::Observation& observation, std::size_t index) {
    const auto value = observation.get(index);
    if (!value) return "missing";
    return fmt::format("{:.6g}", *value);
}

nlohmann::json unavailable_json(const std::vector<sense::Unavailable>& entries) {
    nlohmann::json out = nlohmann::json::array();
    for (const sense::Unavailable& u : entries) {
        out.push_back({{"what", u.what}, {"reason", u.reason}, {"fix", u.fix}});
    }
    return out;
}

nlohmann::json to_json(const NodeSensors& node, const sense::Observation& observation) {
    nlohmann::json out;
    out["root"] = node.fs().root().string();
    out["read_interval_s"] = std::chrono::duration<double>(kSecondReadAfter).count();
    out["cpu_power_estimated"] = node.cpu_estimated();
    out["sensors"] = nlohmann::json::array();
    for (const NodeSensor& s : node.sensors()) {
        nlohmann::json sensor;
        sensor["name"] = s.sensor->name();
        sensor["signals"] = nlohmann::json::array();
        for (std::size_t i = s.first_signal; i < s.first_signal + s.signal_count; ++i) {
            const sense::SignalInfo& info = observation.catalog().info(i);
            const auto value = observation.get(i);
            sensor["signals"].push_back({{"name", info.name},
                                         {"unit", info.unit},
                                         {"provenance", std::string(sense::to_string(info.provenance))},
                                         {"value", value ? nlohmann::json(*value) : nlohmann::json(nullptr)},
                                         {"description", info.description}});
        }
        sensor["notes"] = s.notes;
        sensor["unavailable"] = unavailable_json(s.sensor->unavailable());
        sensor["read_error"] = s.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.last_error);
        out["sensors"].push_back(std::move(sensor));
    }
    out["signal_count"] = observation.catalog().size();
    out["unavailable"] = unavailable_json(node.unavailable());
    return out;
}

void print_table(std::ostream& out, const NodeSensors& node, const sense::Observation& observation) {
    out << fmt::format(
        "Sensors on this machine (root {}). Values from two reads {} ms apart: energy counters\n"
        "(*_joules_total) count from discovery, rates are over the gap. `--json` adds what each\n"
        "signal means and what it may be summed with.\n",
        node.fs().root().string(), kSecondReadAfter.count());
    std::size_t width = 24;
    for (std::size_t i = 0; i < observation.catalog().size(); ++i) {
        width = std::max(width, observation.catalog().info(i).name.size());
    }
    for (const NodeSensor& s : node.sensors()) {
        out << fmt::format("\n{} ({} signal{})\n", s.sensor->name(), s.signal_count,
                           s.signal_count == 1 ? "" : "s");
        for (const std::string& note : s.notes) out << "  note: " << note << "\n";
        if (s.signal_count > 0) {
            out << fmt::format("  {:<{}} {:>14} {:<6} {}\n", "signal", width, "value", "unit", "provenance");
        }
        for (std::size_t i = s.first_signal; i < s.first_signal + s.signal_count; ++i) {
            const sense::SignalInfo& info = observation.catalog().info(i);
            out << fmt::format("  {:<{}} {:>14} {:<6} {}\n", info.name, width, format_value(observation, i),
                               info.unit, sense::to_string(info.provenance));
        }
        if (!s.last_error.empty()) out << "  read failed: " << s.last_error << "\n";
        for (const sense::Unavailable& u : s.sensor->unavailable()) {
            out << fmt::format("  unavailable: {}: {}\n", u.what, u.reason);
            if (!u.fix.empty()) out << "    fix: " << u.fix << "\n";
        }
    }
    out << "\n";
    if (observation.catalog().size() == 0) {
        out << "No sensor found: nothing on this machine can be measured (see `unavailable` above for why "
               "and "
               "how to fix it).\n";
    } else {
        out << fmt::format(
            "{} signal{} from {} sensor{}{}.\n", observation.catalog().size(),
            observation.catalog().size() == 1 ? "" : "s", node.sensors().size(),
            node.sensors().size() == 1 ? "" : "s",
            node.cpu_estimated() ? "; CPU power is ESTIMATED (no readable RAPL package counter)" : "");
    }
}

int run_sensors(const SensorsOptions& options) {
    std::error_code ec;
    if (!std::filesystem::is_directory(options.root, ec)) {
        std::cerr << "error: sensors: --root " << options.root << ": not a directory\n";
        return kExitBadInput;
    }
    NodeSensorOptions node_options;
    node_options.root = options.root;
    node_options.nvml_library = options.nvml_library;
    node_options.ipmi = options.ipmi;
    // A bad config file throws ConfigError, which the app's guard reports (exit 2).
    core::ConfigDocument config = options.config_path.empty() ? core::ConfigDocument::empty()
                                                              : core::ConfigDocument::load(options.config_path);
    apply_node_config(config.root(), node_options);
    config.reject_unknown_keys();
    NodeSensors node(node_options);

    sense::Observation observation = node.make_observation();
    node.read(observation);
    std::this_thread::sleep_for(kSecondReadAfter);
    node.read(observation);

    if (options.json) {
        std::cout << to_json(node, observation).dump(2) << "\n";
    } else {
        print_table(std::cout, node, observation);
    }
    return kExitOk;
}

}  // namespace

void add_sensors_command(CLI::App& app, CommandContext& context) {
    CLI::App* sensors = app.add_subcommand(
        "sensors",
        "List every sensor on this machine (RAPL, procfs CPU, hwmon, NVIDIA GPUs through NVML, IPMI with\n"
        "--ipmi; estimated CPU power only when no RAPL package counter is readable), each signal with its\n"
        "unit, current value and provenance (measured, derived, estimated), and for what is unavailable,\n"
        "why and the fix. Exit status 0 even when nothing is found.");
    auto options = std::make_shared<SensorsOptions>();
    sensors->add_flag("--json", options->json, "Print machine-readable JSON instead of the table");
    sensors
        ->add_option("--root", options->root, "Filesystem root for sysfs and procfs (fixture trees in tests)")
        ->option_text("DIR")
        ->capture_default_str();
    sensors
        ->add_option("--nvml-library", options->nvml_library,
                     "NVML library to load (default: $JOULEPILOT_NVML_LIBRARY, else libnvidia-ml.so.1)")
        ->option_text("PATH");
    sensors
        ->add_option("--config", options->config_path,
                     "TOML config file ([nvml], [estimate]; docs/config.md); options override it")
        ->option_text("FILE");
    sensors->add_flag("--ipmi", options->ipmi,
                      "Also ask the BMC for node power through ipmi-dcmi (FreeIPMI; slow, needs root)");
    sensors->callback([options, &context] { context.action = [options] { return run_sensors(*options); }; });
}

}  // namespace joulepilot::cli
