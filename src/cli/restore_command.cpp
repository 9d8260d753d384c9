// `joulepilot restore`: for operators. Puts back every hardware setting the shield's state file records as
// changed by joulepilot (a run that was killed, or lost power, before it could restore them itself). Uses
// the same actuators and the same recovery as the agent's start, so it restores exactly what the agent
// would. Exit 0: nothing was left changed, or everything is back; 1: something could not be restored (the
// state file keeps it); 2: bad input.

#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "act/shield/safety_shield.hpp"
#include "cli/agent_paths.hpp"
#include "cli/command.hpp"
#include "cli/node_actuators.hpp"
#include "cli/node_sensors.hpp"

namespace joulepilot::cli {
namespace {

struct RestoreOptions {
    std::string config_path;
    std::string state_file;
    std::string root = "/";
    bool json = false;
};

int run_restore(const RestoreOptions& o, const CLI::App& cmd) {
    core::ConfigDocument doc =
        o.config_path.empty() ? core::ConfigDocument::empty() : core::ConfigDocument::load(o.config_path);
    const core::ConfigSection root = doc.root();
    act::ShieldSettings settings;
    settings.state_file = shield_state_file(root, cmd.count("--state-file") > 0 ? o.state_file : "");
    NodeSensorOptions sensor_options;
    sensor_options.root = o.root;
    apply_node_config(root, sensor_options);
    const core::RootedFs fs(sensor_options.root);
    NodeActuators actuators(root.section("act"), fs, sensor_options);

    const act::SavedSettingsFile file(settings.state_file);
    if (!file.exists()) {
        if (o.json) {
            std::cout << nlohmann::json{{"state_file", settings.state_file.string()}, {"restored", nlohmann::json::array()}}.dump(2)
                      << "\n";
        } else {
            std::cout << fmt::format("restore: nothing to restore ({} does not exist: no setting is left changed)\n",
                                     settings.state_file.string());
        }
        return kExitOk;
    }
    // Recovery writes only the originals the file names; the mode and allow-list do not apply to it.
    act::SafetyShield shield(actuators.actuators(), settings);
    auto recovered = shield.recover();
    nlohmann::json restored = nlohmann::json::array();
    if (recovered) {
        for (const auto& out : recovered->outcomes) {
            restored.push_back({{"knob", out.knob}, {"from", out.before}, {"to", out.after},
                                {"outcome", std::string(act::to_string(out.outcome))}});
        }
    }
    if (o.json) {
        nlohmann::json j{{"state_file", settings.state_file.string()}, {"restored", restored}};
        if (!recovered) j["error"] = recovered.error().message;
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& r : restored) {
            std::cout << fmt::format("restore: {} {} -> {} ({})\n", r["knob"].get<std::string>(), r["from"].get<double>(),
                                     r["to"].get<double>(), r["outcome"].get<std::string>());
        }
        if (recovered) std::cout << fmt::format("restore: {} setting(s) back to their originals\n", restored.size());
    }
    if (!recovered) {
        std::cerr << "restore: " << recovered.error().message << "\n";
        return kExitFailure;
    }
    return kExitOk;
}

}  // namespace

void add_restore_command(CLI::App& app, CommandContext& context) {
    auto options = std::make_shared<RestoreOptions>();
    CLI::App* cmd = app.add_subcommand("restore",
                                       "Put back every hardware setting joulepilot changed and did not restore (after "
                                       "the agent was killed or the machine lost power), from the shield's state file.");
    cmd->add_option("--config", options->config_path, "the agent's TOML config file")->check(CLI::ExistingFile);
    cmd->add_option("--state-file", options->state_file,
                    "the shield's state file (default: [shield] state_file, else <state_dir>/shield-state.json)");
    cmd->add_option("--root", options->root, "filesystem root for sysfs (tests use fixture trees)");
    cmd->add_flag("--json", options->json, "machine-readable output");
    cmd->callback([options, cmd, &context] {
        context.action = [options, cmd] { return run_restore(*options, *cmd); };
    });
}

}  // namespace joulepilot::cli
