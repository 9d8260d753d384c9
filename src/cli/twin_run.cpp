// Shared setup of `twin run` and `bench` (see twin_run.hpp).
#include "cli/twin_run.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "act/shield/safety_shield.hpp"
#include "core/civil_time.hpp"
#include "decide/registry.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {

void add_twin_workload_options(CLI::App& cmd, TwinRunOptions& options_ref) {
    TwinRunOptions* options = &options_ref;
    cmd.add_option("--config", options->config_path, "TOML config file (docs/config.md); options override it")
        ->check(CLI::ExistingFile);
    cmd.add_option("--scenario", options->scenario,
                    "default (ServeGen DeepSeek-R1 day), azure-conv or azure-code (Azure LLM trace 2023, 1 h)")
        ->capture_default_str();
    cmd.add_option("--trace", options->trace,
                    "Replay this trace instead: Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or JSONL "
                    "({\"timestamp\": ms, \"input_length\": n, \"output_length\": m})")
        ->check(CLI::ExistingFile);
    cmd.add_option("--scale-peak", options->scale_peak,
                    "Scale the request rate so the busiest window needs this fraction of the fleet at default "
                    "settings (default scenarios: 0.75; a --trace replays as recorded unless given)")
        ->check(CLI::Range(0.01, 10.0));
    cmd.add_option("--gpus", options->gpus, "Simulated H100 GPUs, one replica each")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    cmd.add_option("--zone", options->zone,
                    "Grid zone for carbon intensity and weather: US-CAL-CISO, US-TEX-ERCO, US-MIDA-PJM, DE-LU, GB")
        ->capture_default_str();
    cmd.add_option("--seed", options->seed, "Random seed of the workload sampler")->capture_default_str();
    cmd.add_option("--duration", options->duration,
                    "Simulate only the first part of the workload: seconds or 90m, 6h, 1d (default: all of it)");
    cmd.add_option("--start", options->start,
                    "UTC time simulated second 0 stands for (sets carbon, price and weather hours)")
        ->capture_default_str();
    cmd.add_option("--slo-ttft", options->slo_ttft_s, "SLO on time to first token, seconds")
        ->check(CLI::Range(0.001, 3600.0))
        ->capture_default_str();
    cmd.add_option("--slo-tpot", options->slo_tpot_s, "SLO on mean time per output token, seconds")
        ->check(CLI::Range(0.0001, 60.0))
        ->capture_default_str();
    cmd.add_option("--sense-interval", options->sense_interval_s, "Seconds between observations")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    cmd.add_option("--decide-interval", options->decide_interval_s, "Seconds between decisions")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::string item;
    for (char c : text) {
        if (c == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else if (c != ' ') {
            item += c;
        }
    }
    if (!item.empty()) out.push_back(item);
    return out;
}

TwinInputs load_twin_inputs(const ResolvedRun& resolved, const std::string& data_dir) {
    auto model = twin::ReplicaModel::calibrated(data_dir);
    if (!model) throw BadInput("replica model: " + model.error().message);
    auto facility = twin::FacilityModel::load(data_dir, resolved.zone, resolved.pue, resolved.tariff);
    if (!facility) throw BadInput(facility.error().message);
    auto scenario = twin::build_scenario(resolved.scenario, *model, resolved.fleet.defaults, data_dir);
    if (!scenario) throw BadInput(scenario.error().message);
    if (scenario->workload.empty()) throw BadInput("the workload has no requests in the chosen duration");
    return TwinInputs{std::move(*model), std::move(*facility), std::move(*scenario)};
}

decide::PolicyContext TwinInputs::policy_context(const ResolvedRun& resolved, const std::string& data_dir) const {
    decide::PolicyContext context;
    context.data_dir = data_dir;
    context.replica_model = &model;
    context.workload = &scenario.workload;
    context.prefill_token_budget = resolved.fleet.prefill_token_budget;
    context.decide_interval_s = resolved.loop.decide_interval.value();
    return context;
}

ResolvedRun resolve_twin_run(const TwinRunOptions& o, const CLI::App& cmd, core::ConfigDocument& doc) {
    // `bench` has no --policy/--compare: an option the command lacks counts as not given.
    auto given = [&cmd](const char* name) { return cmd.get_option_no_throw(name) != nullptr && cmd.count(name) > 0; };
    const core::ConfigSection root = doc.root();
    const core::ConfigSection twin = root.section("twin");
    const core::ConfigSection slo = root.section("slo");
    ResolvedRun r;

    std::vector<std::string> scenarios = twin::scenario_names();
    r.scenario.scenario = given("--scenario") ? o.scenario : twin.string("scenario", o.scenario, scenarios);
    if (given("--scenario")) {
        if (std::find(scenarios.begin(), scenarios.end(), o.scenario) == scenarios.end()) {
            throw BadInput(fmt::format("--scenario '{}' is not one of: {}", o.scenario, fmt::join(scenarios, ", ")));
        }
    }
    const std::string trace = given("--trace") ? o.trace : twin.string("trace", "");
    if (!trace.empty()) r.scenario.trace = trace;
    if (given("--scale-peak")) {
        r.scenario.scale_peak = o.scale_peak;
    } else if (twin.has("scale_peak")) {
        r.scenario.scale_peak = twin.number("scale_peak", 0.75, 0.01, 10);
    }
    r.scenario.gpus = given("--gpus") ? o.gpus : static_cast<int>(twin.integer("gpus", o.gpus, 1, 1024));
    r.scenario.seed = given("--seed") ? o.seed : static_cast<std::uint64_t>(twin.integer("seed", 1, 0, INT64_MAX));
    const std::string duration = given("--duration") ? o.duration : twin.string("duration", "");
    if (!duration.empty()) {
        auto seconds = core::parse_duration_s(duration);
        if (!seconds) throw BadInput("--duration: " + seconds.error().message);
        r.scenario.duration_s = *seconds;
    }
    r.zone = given("--zone") ? o.zone : twin.string("zone", o.zone, twin::known_zones());
    const std::string start = given("--start") ? o.start : twin.string("start", o.start);
    auto start_unix = core::parse_utc_timestamp(start);
    if (!start_unix) throw BadInput("--start: " + start_unix.error().message);
    r.start_unix_s = *start_unix;

    r.fleet.gpus = r.scenario.gpus;
    r.fleet.slo_ttft_s = given("--slo-ttft") ? o.slo_ttft_s : slo.number("ttft_s", o.slo_ttft_s, 0.001, 3600);
    r.fleet.slo_tpot_s = given("--slo-tpot") ? o.slo_tpot_s : slo.number("tpot_s", o.slo_tpot_s, 0.0001, 60);
    r.loop.constraints.slo_ttft = core::Seconds(r.fleet.slo_ttft_s);
    r.loop.constraints.slo_tpot = core::Seconds(r.fleet.slo_tpot_s);
    r.loop.constraints.slo_target = slo.number("target", 0.99, 0.0, 1.0);
    r.loop.sense_interval =
        core::Seconds(given("--sense-interval") ? o.sense_interval_s
                                                : twin.number("sense_interval_s", o.sense_interval_s, 0.1, 3600));
    r.loop.decide_interval =
        core::Seconds(given("--decide-interval") ? o.decide_interval_s
                                                 : twin.number("decide_interval_s", o.decide_interval_s, 0.1, 86400));
    if (r.loop.decide_interval < r.loop.sense_interval) {
        throw BadInput("the decide interval must be at least the sense interval");
    }

    // The twin is simulated hardware: the shield acts on every knob by default (a real node defaults to
    // observe-only and to the knobs the config names), with the same canary and SLO guard as a node.
    act::ShieldSettings shield_defaults;
    shield_defaults.mode = act::ShieldMode::act;
    shield_defaults.allow_unlisted = true;
    shield_defaults.slo = {r.loop.constraints.slo_ttft, r.loop.constraints.slo_tpot, r.loop.constraints.slo_target};
    r.shield = act::read_shield_settings(root.section("shield"), shield_defaults);

    const core::ConfigSection pue = root.section("pue");
    r.pue.fixed_overhead = pue.number("fixed_overhead", r.pue.fixed_overhead, 0, 1);
    r.pue.min_load = pue.number("min_load", r.pue.min_load, 0.01, 1);
    r.pue.cooling_base = pue.number("cooling_base", r.pue.cooling_base, 0, 2);
    r.pue.cooling_per_degree = pue.number("cooling_per_degree", r.pue.cooling_per_degree, 0, 0.2);
    r.pue.free_cooling_c = pue.number("free_cooling_c", r.pue.free_cooling_c, -50, 60);
    const core::ConfigSection tariff = root.section("tariff");
    r.tariff.offpeak_usd_per_kwh = tariff.number("offpeak_usd_per_kwh", r.tariff.offpeak_usd_per_kwh, 0, 100);
    r.tariff.peak_usd_per_kwh = tariff.number("peak_usd_per_kwh", r.tariff.peak_usd_per_kwh, 0, 100);
    r.tariff.peak_start_hour = static_cast<int>(tariff.integer("peak_start_hour", r.tariff.peak_start_hour, 0, 24));
    r.tariff.peak_end_hour = static_cast<int>(tariff.integer("peak_end_hour", r.tariff.peak_end_hour, 0, 24));

    if (given("--policy") && given("--compare")) throw BadInput("give either --policy or --compare, not both");
    if (given("--policy")) {
        r.policies = {o.policy};
    } else if (given("--compare")) {
        r.policies = split_list(o.compare);
        if (r.policies.empty()) throw BadInput("--compare needs a comma-separated list of policies");
    } else {
        const std::string from_config = twin.string("policies", "");
        r.policies = from_config.empty() ? decide::classic_policy_names() : split_list(from_config);
    }
    return r;
}




namespace {

// The shield's own actions (canaries, releases, rollbacks) and its refusals, for the run's output.
void summarize_shield(const act::MemoryAuditSink& audit, const act::SafetyShield& shield, twin::RunSummary& summary) {
    summary.canaries = shield.counters().canaries;
    summary.rollbacks = shield.counters().rollbacks;
    summary.refused_changes = shield.counters().refusals;
    for (const act::AuditEvent& e : audit.events) {
        if (e.kind == "change" || e.kind == "pending" || summary.shield_events.size() >= 200) continue;
        summary.shield_events.push_back({e.time.value(), e.kind, e.knob, e.before, e.after, e.reason});
    }
}

}  // namespace

void run_one(PolicyRun& run, const twin::ReplicaModel& model, const twin::FacilityModel& facility,
             const ResolvedRun& resolved, const twin::Scenario& scenario) {
    const auto wall_start = std::chrono::steady_clock::now();
    twin::TwinWorld world(model, facility, resolved.fleet, scenario.workload, resolved.start_unix_s);
    act::MemoryAuditSink audit;
    act::SafetyShield shield({&world.actuator()}, resolved.shield, &audit);
    agent::AgentLoop loop(world.clock(), {&world.sensor()}, shield, *run.policy, resolved.loop);
    const double step = std::max(60.0, scenario.duration_s / 200);
    double t = 0;
    const double end = scenario.duration_s + kDrainLimitS;
    while (t < end) {
        t = std::min(end, t + step);
        loop.run_until(core::Seconds(t));
        run.simulated_s = world.fleet().now();
        run.requests = world.fleet().arrivals();
        run.energy_j = world.fleet().total_it_energy_j();
        if (t >= scenario.duration_s && world.fleet().drained()) break;
    }
    world.fleet().close_partial_bucket();
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    run.summary = world.summarize(scenario.name, run.name, wall_s);
    run.summary.decisions = loop.stats().decisions;
    summarize_shield(audit, shield, run.summary);
}

void show_progress(const std::vector<std::unique_ptr<PolicyRun>>& runs, double duration_s, bool tty) {
    std::string line;
    for (const auto& run : runs) {
        const double fraction = std::min(1.0, run->simulated_s / std::max(1.0, duration_s));
        const int filled = static_cast<int>(fraction * 20);
        line += fmt::format("{} [{}{}] {:5.1f}h {:>8} req {:>8.1f} kWh  ", run->name, std::string(filled, '#'),
                            std::string(20 - filled, '.'), run->simulated_s / 3600, run->requests.load(),
                            core::to_kwh(core::Joules(run->energy_j)));
    }
    if (tty) {
        std::cerr << "\r" << line << std::flush;
    } else {
        std::cerr << line << "\n";
    }
}

}  // namespace joulepilot::cli
