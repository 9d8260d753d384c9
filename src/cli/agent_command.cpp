// `joulepilot agent`: the daemon. Builds the world (a real node's sensors and actuators, or the twin for a
// demo on any machine), reads the config's [agent], [api], [ledger], [shield] and [policy.<name>] sections,
// and hands everything to daemon::AgentDaemon. SIGTERM and SIGINT stop it cleanly (settings restored,
// ledger flushed); they are waited for on a thread of their own, never handled inside the loop.

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/agent_paths.hpp"
#include "cli/command.hpp"
#include "cli/node_actuators.hpp"
#include "cli/node_sensors.hpp"
#include "cli/twin_run.hpp"
#include "core/civil_time.hpp"
#include "daemon/agent_daemon.hpp"
#include "daemon/paced_clock.hpp"
#include "decide/registry.hpp"
#include "ledger/ledger.hpp"
#include "sense/prom/prom_sensor.hpp"
#include "serve/http_server.hpp"
#include "twin/scenario.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {
namespace {

struct AgentOptions {
    std::string config_path;
    std::string world;
    std::string listen;
    std::string token_file;
    std::string ledger_path;
    bool no_ledger = false;
    std::string policy;
    std::string state_file;
    std::string root = "/";
    std::string duration;
    double speed = 1.0;
    double sense_interval_s = 1.0;
    double decide_interval_s = 10.0;
    TwinRunOptions twin;  // the twin world's workload options ([twin] in the config)
};

// A policy's parameters arrive as JSON (PUT /v1/policy) or from the config's [policy.<name>]: both become
// the same TOML section so one reader validates them.
std::string params_as_toml(const std::string& name, const nlohmann::json& params) {
    std::string text = fmt::format("[policy.\"{}\"]\n", name);
    for (const auto& [key, value] : params.items()) {
        if (value.is_object() || value.is_array() || value.is_null()) {
            throw core::ConfigError(fmt::format("policy parameter '{}' must be a number, string or boolean", key));
        }
        text += fmt::format("\"{}\" = {}\n", key, value.dump());
    }
    return text;
}

nlohmann::json section_as_json(const core::ConfigSection& section) {
    nlohmann::json out = nlohmann::json::object();
    for (const std::string& key : section.keys()) {
        if (section.has(key)) {
            // Values are re-read by the policy itself; here they are only echoed back in /v1/policy.
            out[key] = nullptr;
        }
    }
    return out;
}

// SIGTERM and SIGINT, blocked in the calling thread. Called before any thread exists (the ledger's writer,
// the HTTP workers), so every thread inherits the mask and only SignalWatcher's sigwait receives them.
sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Waits for SIGTERM/SIGINT on a thread of its own: the daemon stops after its current tick.
class SignalWatcher {
public:
    SignalWatcher(daemon::AgentDaemon& agent, sigset_t set) : m_set(set) {
        m_thread = std::thread([this, &agent] {
            int signal = 0;
            if (sigwait(&m_set, &signal) == 0 && !m_done) {
                spdlog::info("agent: {} received, stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
                agent.stop();
            }
        });
    }
    ~SignalWatcher() {
        m_done = true;
        pthread_kill(m_thread.native_handle(), SIGTERM);  // wakes sigwait; m_done makes it a no-op
        m_thread.join();
    }
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

private:
    sigset_t m_set{};
    std::thread m_thread;
    std::atomic<bool> m_done{false};
};

int run_agent(AgentOptions o, const CLI::App& cmd, const CommandContext& context) {
    const sigset_t stop_signals = block_stop_signals();
    auto given = [&cmd](const char* name) { return cmd.count(name) > 0; };
    core::ConfigDocument doc =
        o.config_path.empty() ? core::ConfigDocument::empty() : core::ConfigDocument::load(o.config_path);
    const core::ConfigSection root = doc.root();
    const core::ConfigSection agent = root.section("agent");
    const std::string world_name = given("--world") ? o.world : agent.string("world", "node", {"node", "twin"});
    if (world_name != "node" && world_name != "twin") throw BadInput("--world must be node or twin");

    daemon::DaemonSettings settings;
    settings.loop.sense_interval = core::Seconds(
        given("--sense-interval") ? o.sense_interval_s : agent.number("sense_interval_s", o.sense_interval_s, 0.01, 3600));
    settings.loop.decide_interval = core::Seconds(given("--decide-interval")
                                                      ? o.decide_interval_s
                                                      : agent.number("decide_interval_s", o.decide_interval_s, 0.01, 86400));
    if (settings.loop.decide_interval < settings.loop.sense_interval) {
        throw BadInput("the decide interval must be at least the sense interval");
    }
    const std::filesystem::path state_dir = agent_state_dir(root);
    settings.http = serve::read_http_server_options(root.section("api"));
    if (given("--listen")) settings.http.listen = o.listen;
    if (given("--token-file")) settings.http.token_file = o.token_file;
    const std::string policy_name = given("--policy") ? o.policy : agent.string("policy", "static");
    if (given("--duration")) {
        auto seconds = core::parse_duration_s(o.duration);
        if (!seconds) throw BadInput("--duration: " + seconds.error().message);
        settings.run_for = core::Seconds(*seconds);
    }

    // The ledger: on by default, in the state directory.
    auto ledger_options = ledger::read_ledger_options(root.section("ledger"), state_dir / "ledger.db");
    if (given("--ledger")) ledger_options.path = o.ledger_path;
    if (!o.no_ledger) settings.ledger = ledger_options;

    // The world.
    std::unique_ptr<NodeSensors> node_sensors;
    std::unique_ptr<NodeActuators> node_actuators;
    std::unique_ptr<sense::PromSensor> prom_sensor;
    std::unique_ptr<twin::TwinWorld> twin_world;
    std::unique_ptr<daemon::PacedClock> paced;
    core::SystemClock system_clock;
    daemon::DaemonWorld world;
    world.name = world_name;
    std::optional<twin::ReplicaModel> model;
    std::optional<twin::FacilityModel> facility;
    std::optional<twin::Scenario> scenario;
    decide::PolicyContext policy_context;
    policy_context.data_dir = context.data_dir;
    policy_context.decide_interval_s = settings.loop.decide_interval.value();

    act::ShieldSettings shield_defaults;
    if (world_name == "twin") {
        // Simulated hardware: the shield acts on every knob unless the config narrows it, like `twin run`.
        const ResolvedRun resolved = resolve_twin_run(o.twin, cmd, doc);
        shield_defaults = resolved.shield;
        auto m = twin::ReplicaModel::calibrated(context.data_dir);
        if (!m) throw BadInput("replica model: " + m.error().message);
        model = std::move(*m);
        auto f = twin::FacilityModel::load(context.data_dir, resolved.zone, resolved.pue, resolved.tariff);
        if (!f) throw BadInput(f.error().message);
        facility = std::move(*f);
        // Only the oracle reads the whole workload; otherwise the twin streams it (a day is ~400k requests).
        twin::ScenarioOptions scenario_options = resolved.scenario;
        scenario_options.materialize_workload = policy_name == "oracle";
        auto s = twin::build_scenario(scenario_options, *model, resolved.fleet.defaults, context.data_dir);
        if (!s) throw BadInput(s.error().message);
        scenario = std::move(*s);
        settings.loop.constraints = resolved.loop.constraints;
        twin_world = std::make_unique<twin::TwinWorld>(*model, *facility, resolved.fleet, scenario->source->open(),
                                                       resolved.start_unix_s);
        paced = std::make_unique<daemon::PacedClock>(twin_world->clock(), o.speed);
        world.clock = paced.get();
        world.sensors = {&twin_world->sensor()};
        world.actuators = {&twin_world->actuator()};
        world.epoch_unix_s = resolved.start_unix_s;
        world.grams_co2_per_joule = facility->carbon_g_per_kwh(core::Seconds(resolved.start_unix_s)) / 3.6e6;
        policy_context.replica_model = &*model;
        policy_context.workload = scenario_options.materialize_workload ? &scenario->workload : nullptr;
        policy_context.prefill_token_budget = resolved.fleet.prefill_token_budget;
        if (!settings.run_for) settings.run_for = core::Seconds(scenario->duration_s);
        std::cerr << fmt::format("agent: twin world, {} ({} requests over {:.1f} h) at {}x real time\n", scenario->name,
                                 scenario->requests, scenario->duration_s / 3600, o.speed);
    } else {
        // The service's SLO ([slo], as in `twin run`): what policies keep and the shield's guard judges.
        const core::ConfigSection slo = root.section("slo");
        settings.loop.constraints.slo_ttft = core::Seconds(slo.number("ttft_s", 1.0, 0.001, 3600));
        settings.loop.constraints.slo_tpot = core::Seconds(slo.number("tpot_s", 0.1, 0.0001, 60));
        settings.loop.constraints.slo_target = slo.number("target", 0.99, 0.0, 1.0);
        NodeSensorOptions sensor_options;
        sensor_options.root = o.root;
        apply_node_config(root, sensor_options);
        node_sensors = std::make_unique<NodeSensors>(sensor_options);
        node_actuators = std::make_unique<NodeActuators>(root.section("act"), node_sensors->fs(), sensor_options);
        world.clock = &system_clock;
        for (const auto& s : node_sensors->sensors()) world.sensors.push_back(s.sensor.get());
        // Service metrics (latency, SLO attainment, throughput) from Prometheus, when [prom] names a server:
        // without them the SLO guard has nothing to judge.
        sense::PromSensorOptions prom_options = sense::read_prom_options(root.section("prom"));
        if (!prom_options.signals.empty()) {
            auto prom = sense::PromSensor::create(prom_options, &system_clock);
            if (!prom) throw BadInput("[prom]: " + prom.error().message);
            prom_sensor = std::move(*prom);
            world.sensors.push_back(prom_sensor.get());
        } else {
            spdlog::warn("agent: no [prom] service metrics configured: the SLO guard cannot judge changes, so keep "
                         "the shield in observe or dry-run mode (docs/prometheus.md)");
        }
        world.actuators = node_actuators->actuators();
        for (const auto& rule : node_actuators->default_rules()) shield_defaults.rules.add(rule);
        for (const auto& u : node_actuators->unavailable()) spdlog::info("agent: {}: {} ({})", u.what, u.reason, u.fix);
        const core::ConfigSection carbon = agent.section("carbon");
        world.grams_co2_per_joule = carbon.number("grams_per_kwh", 0, 0, 5000) / 3.6e6;
        for (const auto& u : node_sensors->unavailable()) spdlog::info("agent: {}: {} ({})", u.what, u.reason, u.fix);
    }
    settings.shield = act::read_shield_settings(root.section("shield"), shield_defaults);
    // Real hardware only: the file `joulepilot restore` reads after a crash (the twin has nothing to recover).
    settings.shield.state_file =
        world_name == "twin" ? std::filesystem::path() : shield_state_file(root, given("--state-file") ? o.state_file : "");
    if (world_name == "node") {
        settings.shield.slo = {settings.loop.constraints.slo_ttft, settings.loop.constraints.slo_tpot,
                               settings.loop.constraints.slo_target};
    }

    // Policies: the configured one first; PUT /v1/policy builds others from JSON through the same reader.
    settings.policy_names = decide::policy_names();
    const core::ConfigSection policy_section = root.section("policy").section(policy_name);
    {
        auto probe = decide::make_policy(policy_name, policy_section, policy_context);
        if (!probe) throw BadInput(probe.error().message);
    }
    settings.policy = {policy_name, section_as_json(policy_section)};
    decide::read_policy_sections(root.section("policy"), policy_context);
    doc.reject_unknown_keys();
    settings.make_policy = [policy_context, config_path = o.config_path,
                            first = true](const serve::PolicySpec& spec) mutable
        -> core::Result<std::unique_ptr<decide::Policy>> {
        try {
            // The configured policy is built from the config file itself; later ones from their JSON.
            core::ConfigDocument d = (first && !config_path.empty()) ? core::ConfigDocument::load(config_path)
                                                                     : core::ConfigDocument::parse(params_as_toml(spec.name, spec.params),
                                                                                                   "PUT /v1/policy");
            first = false;
            auto policy = decide::make_policy(spec.name, d.root().section("policy").section(spec.name), policy_context);
            if (policy && d.source_name() == "PUT /v1/policy") d.reject_unknown_keys();
            return policy;
        } catch (const core::ConfigError& e) {
            return core::fail(e.what());
        }
    };

    // The start-up line names the host the operator asked for and the port really bound (port 0: a free one).
    const auto listen = serve::parse_listen_address(settings.http.listen);
    std::string host = listen ? listen->host : settings.http.listen;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
    auto daemon = daemon::AgentDaemon::start(std::move(world), std::move(settings));
    if (!daemon) {
        std::cerr << "joulepilot agent: " << daemon.error().message << "\n";
        return kExitBadInput;
    }
    std::cerr << fmt::format("agent: listening on {}:{} (policy {}, shield {})\n", host, (*daemon)->port(),
                             policy_name, "see /v1/status");
    SignalWatcher watcher(**daemon, stop_signals);
    return (*daemon)->run();
}

}  // namespace

void add_agent_command(CLI::App& app, CommandContext& context) {
    auto options = std::make_shared<AgentOptions>();
    CLI::App* cmd = app.add_subcommand(
        "agent",
        "Run the energy agent as a service: sense every second, decide every ten, act through the safety shield "
        "(observe-only unless the config's [shield] mode says otherwise), record in the ledger, and serve the HTTP "
        "API, /metrics and the dashboard. --world twin runs it on the digital twin (a demo on any machine).");
    cmd->add_option("--config", options->config_path, "TOML config file (docs/config.md)")->check(CLI::ExistingFile);
    cmd->add_option("--world", options->world, "node (this machine's hardware, the default) or twin");
    cmd->add_option("--listen", options->listen, "HTTP address, host:port (default 127.0.0.1:9464; port 0: any free)");
    cmd->add_option("--token-file", options->token_file,
                    "file holding the bearer token mutating API calls need (default: [api] token_file; none: they are "
                    "refused)");
    cmd->add_option("--ledger", options->ledger_path, "ledger file (default: <state_dir>/ledger.db)");
    cmd->add_flag("--no-ledger", options->no_ledger, "keep no ledger (history and receipts in memory only)");
    cmd->add_option("--policy", options->policy, "policy to run (default: [agent] policy, else static)");
    cmd->add_option("--state-file", options->state_file,
                    "where the shield keeps the originals of changed settings (default: [shield] state_file, else "
                    "<state_dir>/shield-state.json)");
    cmd->add_option("--root", options->root, "node world: filesystem root for sysfs/procfs (tests use fixture trees)");
    cmd->add_option("--duration", options->duration, "stop after this long (e.g. 90s, 2h; twin: default the scenario)");
    cmd->add_option("--speed", options->speed, "twin world: simulated seconds per wall second (default 1)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--sense-interval", options->sense_interval_s, "seconds between sensor reads (default 1)");
    cmd->add_option("--decide-interval", options->decide_interval_s, "seconds between decisions (default 10)");
    cmd->add_option("--scenario", options->twin.scenario, "twin world: workload scenario");
    cmd->add_option("--scale-peak", options->twin.scale_peak, "twin world: scale the load's peak to this fraction");
    cmd->add_option("--gpus", options->twin.gpus, "twin world: GPUs in the fleet");
    cmd->callback([options, cmd, &context] {
        context.action = [options, cmd, &context] { return run_agent(*options, *cmd, context); };
    });
}

}  // namespace joulepilot::cli
