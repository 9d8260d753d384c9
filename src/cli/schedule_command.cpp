// `joulepilot schedule`: plan a queue of flexible jobs over hours and sites (plan), check a plan made on
// forecasts against what happened (evaluate), reproduce the benchmark numbers (study), and carry a plan
// out on Kubernetes (run: suspended Jobs released at their slots, src/sched/kube_controller; its state in
// the ledger, src/sched/ledger_job_state_store, or a JSON file with --state). `run` takes a plan file, or
// the jobs and sites: it then plans as `plan` does (make_plan) and re-plans when an input file changes
// (src/sched/input_watcher).
#include "cli/schedule_command.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/civil_time.hpp"
#include "act/kube/kube_client.hpp"
#include "cli/ledger_cli.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "ledger/ledger.hpp"
#include "sched/evaluation.hpp"
#include "sched/input_watcher.hpp"
#include "sched/kube_controller.hpp"
#include "sched/ledger_job_state_store.hpp"
#include "sched/report.hpp"
#include "sched/study.hpp"

namespace joulepilot::cli {
namespace {

class BadInput : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ScheduleOptions {
    std::string jobs_path;
    std::string sites_path;
    std::string from;
    std::string solver = "fast";
    std::string json_path;
    double time_limit_s = 60;
    std::uint64_t seed = 1;
    // evaluate
    std::string forecast = "naive";
    double forecast_error = 0.10;
    std::string window_scope = "allowed";
    // study
    int study_jobs = 2000;
    std::string study_parts = "carbon,forecast,gap";
    // run
    std::string plan_path;
    bool kube = false;
    std::string ns;
    bool dry_run = false;
    bool once = false;
    double interval_s = 60;
    bool json_lines = false;
    std::string state_path;
    LedgerLocation ledger;
    std::string job_template;
    std::string kubeconfig;
    std::string kube_context;
    std::string site;
};

// Set by SIGINT/SIGTERM so that `schedule run` ends between passes, never in the middle of one.
std::atomic<bool> g_stop_requested{false};
extern "C" void request_stop(int /*signal*/) { g_stop_requested = true; }

template <class T>
T value_or_bad_input(core::Result<T> result) {
    if (!result) throw BadInput(result.error().message);
    return std::move(*result);
}

std::optional<double> parse_from(const std::string& text) {
    if (text.empty()) return std::nullopt;
    auto parsed = core::parse_utc_timestamp(text);
    if (!parsed) throw BadInput("--from: " + parsed.error().message);
    return *parsed;
}

void write_json(const std::string& path, const nlohmann::json& out) {
    if (path.empty()) return;
    std::ofstream file(path);
    file << out.dump(2) << "\n";
    if (!file) throw std::runtime_error("cannot write " + path);
    std::cerr << "wrote " << path << "\n";
}

sched::SolveOptions solve_options(const ScheduleOptions& o) {
    sched::SolveOptions options;
    options.time_limit_s = o.time_limit_s;
    options.seed = o.seed;
    return options;
}

// A plan of the jobs file on the sites file: what `schedule plan` prints and `schedule run --jobs --sites`
// carries out. `from` unset: the jobs' earliest start. Jobs named in `fixed` (id -> site; run: released
// already, they keep their slots) are left out, and their GPUs are taken off their site's capacity for the
// whole plan (conservative: capacity they free when they end is not planned again until the next re-plan).
struct MadePlan {
    sched::Problem problem;
    sched::PlanReport report;
    std::vector<std::filesystem::path> inputs;  // jobs, sites and every data file they named
};

MadePlan make_plan(const ScheduleOptions& o, const CommandContext& context, std::optional<double> from,
                   const std::map<std::string, std::string>& fixed = {}) {
    auto jobs = value_or_bad_input(sched::read_jobs(o.jobs_path));
    auto sites = value_or_bad_input(sched::read_sites(o.sites_path, context.data_dir));
    for (const std::string& note : sites.notes) std::cerr << "note: " << note << "\n";
    if (!fixed.empty()) {
        std::erase_if(jobs, [&](const sched::Job& job) {
            const auto it = fixed.find(job.id);
            if (it == fixed.end()) return false;
            for (sched::Site& site : sites.sites) {
                if (site.name == it->second) site.gpu_capacity = std::max(0, site.gpu_capacity - job.gpus);
            }
            return true;
        });
    }
    const auto solver = value_or_bad_input(sched::parse_solver(o.solver));
    auto problem = value_or_bad_input(sched::Problem::build(jobs, sites, from));
    auto result = sched::solve(problem, solver, solve_options(o));
    if (!result) throw std::runtime_error(result.error().message);
    sched::PlanReport report = sched::make_report(problem, *result);
    std::vector<std::filesystem::path> inputs{o.jobs_path, o.sites_path};
    inputs.insert(inputs.end(), sites.input_files.begin(), sites.input_files.end());
    return {std::move(problem), std::move(report), std::move(inputs)};
}

int schedule_plan(const ScheduleOptions& o, const CommandContext& context) {
    const MadePlan made = make_plan(o, context, parse_from(o.from));
    std::cout << sched::report_text(made.report, made.problem);
    write_json(o.json_path, sched::report_json(made.report, made.problem));
    // Some jobs unplanned is a result, not a failure: they are listed with their reasons.
    return kExitOk;
}

int schedule_evaluate(const ScheduleOptions& o, const CommandContext& context) {
    const auto jobs = value_or_bad_input(sched::read_jobs(o.jobs_path));
    const auto sites = value_or_bad_input(sched::read_sites(o.sites_path, context.data_dir));
    const auto solver = value_or_bad_input(sched::parse_solver(o.solver));
    sched::ForecastOptions forecast;
    forecast.kind = value_or_bad_input(sched::parse_forecast(o.forecast));
    forecast.relative_error = o.forecast_error;
    forecast.seed = o.seed;
    const auto scope =
        o.window_scope == "first" ? sched::WindowScope::first_site : sched::WindowScope::allowed_sites;
    const auto r = value_or_bad_input(
        sched::evaluate(jobs, sites, parse_from(o.from), forecast, solver, solve_options(o), scope));
    const auto line = [&](const char* name, const sched::StrategyTotals& s) {
        return fmt::format("{:<22} {:>12.2f} {:>10.2f} {:>9.1f}% {:>9.1f}%\n", name, s.cost.carbon_g / 1000,
                           s.cost.total_usd(), 100 * r.carbon_saved_fraction(s),
                           100 * r.cost_saved_fraction(s));
    };
    std::cout << fmt::format("evaluate: {} jobs compared ({} not), forecast {}, solver {}\n", r.jobs_compared,
                             r.jobs_not_compared, sched::to_string(forecast.kind), sched::to_string(solver));
    std::cout << fmt::format("{:<22} {:>12} {:>10} {:>10} {:>10}\n", "strategy (on actuals)", "kgCO2", "$",
                             "CO2 saved", "$ saved");
    std::cout << line("run now", r.run_now) << line("plan on forecast", r.forecast_plan)
              << line("perfect information", r.perfect_plan) << line("best window (SDK)", r.best_window);
    std::cout << fmt::format(
        "regret ${:.2f}; forecast plan keeps {:.1f}% of the perfect plan's carbon savings and "
        "{:.1f}% of its $ savings; best window puts {:.0f} GPU-h above capacity\n",
        r.regret_usd(), 100 * r.share_of_perfect_carbon_savings(), 100 * r.share_of_perfect_cost_savings(),
        r.best_window_overload_gpu_h);
    const auto totals = [](const sched::StrategyTotals& s) {
        return nlohmann::json{{"carbon_kg", s.cost.carbon_g / 1000},
                              {"total_usd", s.cost.total_usd()},
                              {"facility_energy_kwh", core::to_kwh(core::Joules(s.cost.facility_energy_j))},
                              {"solve_wall_s", s.wall_s}};
    };
    write_json(o.json_path, {{"forecast", sched::to_string(forecast.kind)},
                             {"forecast_error", o.forecast_error},
                             {"solver", sched::to_string(solver)},
                             {"jobs_compared", r.jobs_compared},
                             {"jobs_not_compared", r.jobs_not_compared},
                             {"run_now", totals(r.run_now)},
                             {"forecast_plan", totals(r.forecast_plan)},
                             {"perfect_plan", totals(r.perfect_plan)},
                             {"best_window", totals(r.best_window)},
                             {"best_window_overload_gpu_h", r.best_window_overload_gpu_h},
                             {"regret_usd", r.regret_usd()},
                             {"share_of_perfect_carbon_savings", r.share_of_perfect_carbon_savings()},
                             {"share_of_perfect_cost_savings", r.share_of_perfect_cost_savings()}});
    return kExitOk;
}

int schedule_study(const ScheduleOptions& o, const CommandContext& context) {
    sched::StudyOptions options;
    options.jobs = o.study_jobs;
    options.seed = o.seed;
    options.exact_time_limit_s = o.time_limit_s;
    options.carbon = o.study_parts.find("carbon") != std::string::npos;
    options.forecast = o.study_parts.find("forecast") != std::string::npos;
    options.gap = o.study_parts.find("gap") != std::string::npos;
    const auto result = sched::run_study(context.data_dir, options);
    if (!result) throw std::runtime_error(result.error().message);
    std::cout << sched::study_text(*result);
    write_json(o.json_path, sched::study_json(*result));
    return kExitOk;
}

void print_pass(const sched::PassReport& pass, bool json_lines) {
    if (json_lines) {
        std::cout << pass.to_json().dump() << "\n" << std::flush;
    } else {
        std::cout << pass.text() << std::flush;
    }
    for (const sched::JobOutcome& o : pass.jobs) {
        if (o.action == "deadline_missed" || o.action == "error")
            std::cerr << (o.action == "error" ? "error: " : "warning: ") << o.id << ": " << o.message << "\n";
    }
}

// Where `schedule run` keeps its controller state: the ledger (default) or a JSON file (--state).
struct StateBackend {
    std::unique_ptr<ledger::Ledger> ledger;
    std::unique_ptr<ledger::LedgerReader> reader;  // dry run: read-only
    std::unique_ptr<sched::JobStateStore> store;
    std::string where;  // for messages
};

ledger::LedgerOptions ledger_options_for(const LedgerLocation& location, const std::string& path) {
    ledger::LedgerOptions options;
    if (!location.config_path.empty()) {
        // resolve_ledger_path() has loaded this file once already, so errors here are unlikely.
        auto doc = core::ConfigDocument::load(location.config_path);
        options = ledger::read_ledger_options(doc.root().section("ledger"), path);
    }
    options.path = path;
    // A release must not be forgotten on power loss: every state row is fsync'ed (a few rows a pass).
    options.durable_commits = true;
    // Sample retention is the agent's business; this process only keeps job state.
    options.compaction_interval = core::Seconds(0);
    return options;
}

// The states of the JSON file earlier versions kept beside the plan, for this namespace.
std::vector<sched::JobState> legacy_states(const std::filesystem::path& path, const std::string& ns) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return {};
    sched::JsonFileJobStateStore legacy(path);
    auto states = legacy.load();
    if (!states) throw BadInput(states.error().message + " (it would be imported into the ledger; fix or move it)");
    std::vector<sched::JobState> out;
    for (sched::JobState& state : *states) {
        if (state.ns.empty() || state.ns == ns) out.push_back(std::move(state));
    }
    return out;
}

StateBackend open_state(const ScheduleOptions& o, const std::string& ns, const core::Clock& clock) {
    StateBackend backend;
    if (!o.state_path.empty()) {
        backend.store = std::make_unique<sched::JsonFileJobStateStore>(o.state_path);
        backend.where = o.state_path;
        return backend;
    }
    const auto path = resolve_ledger_path(o.ledger);
    if (!path) throw BadInput(path.error().message);
    backend.where = *path + " (ledger, table job_state)";
    const std::string scope = sched::kube_scope(ns);
    if (o.dry_run) {
        // Write nothing, not even a new ledger file: read what is there, if anything.
        std::error_code ec;
        if (!std::filesystem::exists(*path, ec)) {
            backend.store = std::make_unique<sched::InMemoryJobStateStore>();
            return backend;
        }
        auto reader = ledger::LedgerReader::open(*path);
        if (!reader) throw BadInput(reader.error().message);
        backend.reader = std::move(*reader);
        backend.store = std::make_unique<sched::LedgerJobStateStore>(*backend.reader, scope);
        return backend;
    }
    auto opened = ledger::Ledger::open(ledger_options_for(o.ledger, *path));
    if (!opened) throw BadInput(opened.error().message);
    backend.ledger = std::move(*opened);
    auto store = std::make_unique<sched::LedgerJobStateStore>(*backend.ledger, clock, scope);
    // Earlier versions kept the state in <plan>.state.json: carry it over once, so that a job released
    // before the upgrade is still known as released (and "held" stays held).
    const std::filesystem::path legacy = o.plan_path + ".state.json";
    const auto states = o.plan_path.empty() ? std::vector<sched::JobState>() : legacy_states(legacy, ns);
    if (!states.empty()) {
        auto imported = store->import(states);
        if (!imported) throw std::runtime_error(imported.error().message);
        if (*imported > 0) {
            std::cerr << "note: imported " << *imported << " job state(s) from " << legacy.string() << " into the ledger "
                      << *path << "; that file is no longer written (delete it once the ledger is backed up)\n";
        }
    }
    backend.store = std::move(store);
    return backend;
}

// `schedule run --jobs --sites`: the plan the controller carries out, and the files it was made from.
struct RunPlan {
    std::vector<sched::PlannedJob> jobs;
    std::vector<std::filesystem::path> inputs;
    std::size_t planned = 0;    // by this plan
    std::size_t unplanned = 0;  // left out by this plan, with a note each
    std::size_t kept = 0;       // released earlier: their slots of the previous plan
};

// Plans the jobs not released yet from now (Problem rounds up to the next whole hour), or from --from when
// that is later. Jobs with a release in `states` keep their entry of `current` (the plan they were released
// under) and their GPUs at its site; they are not planned again.
RunPlan plan_for_run(const ScheduleOptions& o, const CommandContext& context, double now,
                     const std::map<std::string, sched::JobState>& states,
                     const std::vector<sched::PlannedJob>& current) {
    std::map<std::string, std::string> fixed;  // id -> site whose capacity it holds ("": none known)
    std::vector<sched::PlannedJob> kept;
    for (const auto& [id, state] : states) {
        if (state.releases == 0) continue;
        const auto it = std::find_if(current.begin(), current.end(),
                                     [&](const sched::PlannedJob& job) { return job.id == id; });
        const bool holds_gpus = state.status != "finished" && state.status != "gone";
        fixed[id] = it != current.end() && holds_gpus ? it->site : std::string();
        if (it != current.end()) kept.push_back(*it);
    }
    const auto from = parse_from(o.from);
    const MadePlan made = make_plan(o, context, from && *from > now ? *from : now, fixed);
    for (const sched::UnplannedJob& job : made.report.unplanned) std::cerr << "note: not planned: " << job.message << "\n";
    // Through the plan file's JSON: the controller gets exactly what `--plan` would read from
    // `schedule plan --json`.
    auto parsed = sched::parse_plan_json(sched::report_json(made.report, made.problem).dump(),
                                         "the plan of " + o.jobs_path);
    if (!parsed) throw std::runtime_error(parsed.error().message);
    RunPlan out;
    out.planned = parsed->size();
    out.unplanned = made.report.unplanned.size();
    out.kept = kept.size();
    out.jobs = std::move(*parsed);
    out.jobs.insert(out.jobs.end(), kept.begin(), kept.end());
    out.inputs = made.inputs;
    return out;
}

void print_replan(const RunPlan& plan, const std::vector<std::filesystem::path>& changed, double now,
                  bool json_lines) {
    std::vector<std::string> names;
    for (const auto& path : changed) names.push_back(path.string());
    if (json_lines) {
        std::cout << nlohmann::json{{"event", "replanned"},    {"at", sched::utc_text(now)},
                                    {"changed", names},        {"planned", plan.planned},
                                    {"unplanned", plan.unplanned}, {"kept", plan.kept}}
                         .dump()
                  << "\n"
                  << std::flush;
    }
    std::cerr << fmt::format("re-planned at {}: {} changed; {} job(s) planned, {} not planned, {} released "
                             "earlier keep their slots\n",
                             sched::utc_text(now), fmt::join(names, ", "), plan.planned, plan.unplanned, plan.kept);
}

int schedule_run(const ScheduleOptions& o, const CommandContext& context) {
    const bool from_files = !o.jobs_path.empty() || !o.sites_path.empty();
    if (from_files == !o.plan_path.empty()) {
        throw BadInput("schedule run: give either --plan FILE (a plan from `schedule plan --json`) or --jobs FILE "
                       "--sites FILE (planned here, re-planned when they change), not both");
    }
    if (from_files && (o.jobs_path.empty() || o.sites_path.empty()))
        throw BadInput("schedule run: --jobs and --sites go together: give both");
    if (!o.kube) throw BadInput("schedule run: only the Kubernetes backend exists so far: pass --kube");
    auto credentials = act::kube::load_default_credentials(o.kubeconfig, o.kube_context);
    if (!credentials) throw BadInput(credentials.error().message);
    auto client = act::kube::KubeClient::create(std::move(*credentials));
    if (!client) throw BadInput(client.error().message);
    sched::JobTemplates templates = sched::JobTemplates::none();
    if (!o.job_template.empty()) templates = value_or_bad_input(sched::JobTemplates::open(o.job_template));
    sched::KubeControllerOptions options;
    options.ns = o.ns.empty() ? client->default_namespace() : o.ns;
    options.dry_run = o.dry_run;
    if (!o.site.empty()) options.site = o.site;
    core::SystemClock clock;
    // The plan first: a bad plan (or jobs or sites file) is reported before any state is opened (or a
    // ledger created).
    sched::PlanFileWatcher watcher(o.plan_path);
    sched::InputWatcher inputs;
    std::vector<sched::PlannedJob> first_plan;
    if (from_files) {
        RunPlan planned = plan_for_run(o, context, clock.now().value(), {}, {});
        first_plan = std::move(planned.jobs);
        inputs.watch(std::move(planned.inputs));
    } else {
        auto read = watcher.poll();
        if (!read) throw BadInput(read.error().message);
        first_plan = std::move(**read);
    }
    StateBackend state = open_state(o, options.ns, clock);
    auto controller = value_or_bad_input(
        sched::KubeController::create(*client, *state.store, clock, std::move(templates), options));
    const std::string plan_source = from_files ? "the plan of " + o.jobs_path : o.plan_path;
    std::vector<sched::PlannedJob> current;  // --jobs: the plan in force, whose slots released jobs keep
    const auto use_plan = [&](std::vector<sched::PlannedJob> plan) {
        if (auto warning = sched::missing_deadline_warning(plan, plan_source)) std::cerr << "warning: " << *warning << "\n";
        if (from_files) current = plan;
        controller.set_plan(std::move(plan));
    };
    if (from_files) {
        // After a restart the state may hold jobs released already: plan again without them. (Their slots of
        // the plan they were released under are not known any more: they are left running, reported dropped.)
        const bool any_released = std::any_of(controller.states().begin(), controller.states().end(),
                                              [](const auto& entry) { return entry.second.releases > 0; });
        if (any_released) {
            RunPlan planned = plan_for_run(o, context, clock.now().value(), controller.states(), {});
            first_plan = std::move(planned.jobs);
        }
        std::cerr << fmt::format("planned {} job(s) of {} on {} from {}\n", first_plan.size(), o.jobs_path,
                                 o.sites_path, sched::utc_text(clock.now().value()));
    }
    use_plan(std::move(first_plan));

    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    int backoff = 1;
    for (bool first = true;; first = false) {
        if (!first && from_files) {
            const std::vector<std::filesystem::path> changed = inputs.changed();
            if (!changed.empty()) {
                const double now = clock.now().value();
                try {
                    RunPlan planned = plan_for_run(o, context, now, controller.states(), current);
                    print_replan(planned, changed, now, o.json_lines);
                    inputs.watch(std::move(planned.inputs));  // the sites file may name other files now
                    use_plan(std::move(planned.jobs));
                } catch (const std::exception& e) {
                    std::cerr << "error: re-plan after " << changed.front().string() << " changed: " << e.what()
                              << " (the previous plan stays in force)\n";
                }
            }
        } else if (!first) {
            auto plan = watcher.poll();
            if (!plan) {
                std::cerr << "error: " << plan.error().message << " (the previous plan stays in force)\n";
            } else if (*plan) {
                std::cerr << "plan " << o.plan_path << " changed: re-read\n";
                use_plan(std::move(**plan));
            }
        }
        const sched::PassReport pass = controller.reconcile();
        print_pass(pass, o.json_lines);
        if (o.once) return pass.api_unavailable || pass.count("error") > 0 ? kExitFailure : kExitOk;
        // While the API server is unavailable, come back less often (up to 16 intervals apart).
        backoff = pass.api_unavailable ? std::min(backoff * 2, 16) : 1;
        const auto until = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(o.interval_s * backoff));
        while (!g_stop_requested && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (g_stop_requested) {
            std::cerr << "stopping: state kept in " << state.where << "\n";
            return kExitOk;
        }
    }
}

template <class F>
void set_action(CLI::App* cmd, CommandContext& context, std::shared_ptr<ScheduleOptions> options, F run) {
    cmd->callback([cmd, &context, options, run] {
        (void)cmd;
        context.action = [&context, options, run] {
            try {
                return run(*options, context);
            } catch (const BadInput& e) {
                std::cerr << "error: " << e.what() << "\n";
                return kExitBadInput;
            } catch (const std::exception& e) {
                std::cerr << "error: " << e.what() << "\n";
                return kExitFailure;
            }
        };
    });
}

void add_common(CLI::App* cmd, ScheduleOptions& o, bool with_json = true, bool required = true) {
    cmd->add_option("--jobs", o.jobs_path, "Jobs: JSON, YAML or CSV (docs/scheduling.md)")
        ->required(required)
        ->check(CLI::ExistingFile);
    cmd->add_option("--sites", o.sites_path, "Sites and objective weights: TOML or JSON")
        ->required(required)
        ->check(CLI::ExistingFile);
    cmd->add_option("--from", o.from,
                    "Plan start, UTC (default: the earliest job start), rounded up to the hour");
    cmd->add_option("--solver", o.solver, "exact (CBC MILP) or fast (greedy + local search)")
        ->check(CLI::IsMember({"exact", "fast"}))
        ->capture_default_str();
    cmd->add_option("--time-limit", o.time_limit_s,
                    "exact: seconds CBC may search before returning its best plan")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    cmd->add_option("--seed", o.seed, "Seed of fast's ruin-and-recreate moves and of the day-ahead forecast error")
        ->capture_default_str();
    if (with_json) cmd->add_option("--json", o.json_path, "Write the result as JSON to this file");
}

}  // namespace

void add_schedule_command(CLI::App& app, CommandContext& context) {
    CLI::App* schedule = app.add_subcommand(
        "schedule", "Place flexible jobs on cleaner, cheaper hours and sites (carbon, energy, money)");
    schedule->require_subcommand(1);

    auto plan_options = std::make_shared<ScheduleOptions>();
    CLI::App* plan = schedule->add_subcommand(
        "plan",
        "Plan a queue of jobs over hours and sites under capacity; a receipt per job against running now");
    add_common(plan, *plan_options);
    set_action(plan, context, plan_options, schedule_plan);

    auto evaluate_options = std::make_shared<ScheduleOptions>();
    CLI::App* evaluate = schedule->add_subcommand(
        "evaluate",
        "Plan on a carbon forecast, score on actuals: regret against perfect information, savings "
        "against run now and the best single-job window");
    add_common(evaluate, *evaluate_options);
    evaluate
        ->add_option("--forecast", evaluate_options->forecast,
                     "perfect, persistence, naive (seasonal) or day-ahead")
        ->check(CLI::IsMember({"perfect", "persistence", "naive", "day-ahead"}))
        ->capture_default_str();
    evaluate
        ->add_option("--forecast-error", evaluate_options->forecast_error,
                     "day-ahead: relative standard deviation of the forecast error")
        ->check(CLI::Range(0.0, 2.0))
        ->capture_default_str();
    evaluate
        ->add_option("--window-scope", evaluate_options->window_scope,
                     "best-window baseline: at the job's first site, or over its allowed sites")
        ->check(CLI::IsMember({"first", "allowed"}))
        ->capture_default_str();
    set_action(evaluate, context, evaluate_options, schedule_evaluate);

    auto study_options = std::make_shared<ScheduleOptions>();
    CLI::App* study = schedule->add_subcommand(
        "study",
        "The benchmark numbers on the shipped 2023 grid data: carbon saved by slack, sites and "
        "interruption; forecasts; exact against fast");
    study->add_option("--jobs", study_options->study_jobs, "Jobs per queue of the carbon and forecast parts")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    study->add_option("--parts", study_options->study_parts, "Comma-separated: carbon, forecast, gap")
        ->capture_default_str();
    study
        ->add_option("--time-limit", study_options->time_limit_s,
                     "Seconds CBC may spend on each gap instance")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    study->add_option("--seed", study_options->seed, "Seed of the job queues")->capture_default_str();
    study->add_option("--json", study_options->json_path, "Write the numbers as JSON to this file");
    set_action(study, context, study_options, schedule_study);

    auto run_options = std::make_shared<ScheduleOptions>();
    CLI::App* run = schedule->add_subcommand(
        "run",
        "Carry out a plan on Kubernetes: create each job as a suspended Job (or adopt one labelled "
        "joulepilot.io/job-id=<id>), release it at its planned start, never after its deadline; the plan is "
        "--plan FILE, or made here from --jobs and --sites and re-made when they or their data files change "
        "(docs/kubernetes.md)");
    run->add_option("--plan", run_options->plan_path, "Plan written by `schedule plan --json FILE`; re-read when it changes")
        ->check(CLI::ExistingFile);
    // Or plan here, as `schedule plan` does, and re-plan when the jobs, the sites or their data files change.
    add_common(run, *run_options, /*with_json=*/false, /*required=*/false);
    run->get_option("--from")->description(
        "With --jobs: plan from this UTC time when it is later than now (default: now), rounded up to the hour");
    run->add_flag("--kube", run_options->kube, "Submit to Kubernetes (the only backend; required)");
    run->add_option("--namespace", run_options->ns, "Namespace of the Jobs (default: the credentials' namespace)");
    run->add_flag("--dry-run", run_options->dry_run, "Print what would be created and released; write nothing");
    run->add_flag("--once", run_options->once,
                  "One reconcile pass, then exit (for cron and tests); status 1 when a job had an error");
    run->add_option("--interval", run_options->interval_s, "Seconds between passes in loop mode")
        ->check(CLI::Range(1.0, 86400.0))
        ->capture_default_str();
    run->add_flag("--json", run_options->json_lines, "Print each pass as one line of JSON");
    const auto [ledger_option, config_option] =
        add_ledger_location(run, run_options->ledger, "Ledger that keeps the controller's state");
    run->add_option("--state", run_options->state_path,
                    "Keep the controller's state in this JSON file instead of the ledger")
        ->option_text("FILE")
        ->excludes(ledger_option)
        ->excludes(config_option);
    run->add_option("--job-template", run_options->job_template,
                    "Job manifest (YAML/JSON) for jobs without a Job, or a directory of <id>.yaml; without it "
                    "Jobs must exist (adopted by label)")
        ->check(CLI::ExistingPath);
    run->add_option("--kubeconfig", run_options->kubeconfig,
                    "kubeconfig file (default: in-cluster service account, else $KUBECONFIG, else ~/.kube/config)");
    run->add_option("--context", run_options->kube_context, "kubeconfig context (default: current-context)");
    run->add_option("--site", run_options->site, "Only the jobs planned at this site (one cluster per site)");
    set_action(run, context, run_options, schedule_run);
}

}  // namespace joulepilot::cli
