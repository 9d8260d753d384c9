// `joulepilot bench`: runs each policy on the same load in the twin and compares them: facility energy,
// J/token, ratio to static and to the oracle, SLO attainment, p99 TTFT/TPOT, carbon, cost and decision
// latency; attributes the best policy's savings to knob groups with Shapley values (2^4 runs with each
// subset of groups enabled); and scores the load forecast against persistence on the scenario.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/report_html.hpp"
#include "cli/run_output.hpp"
#include "cli/twin_run.hpp"
#include "decide/fleet_plan.hpp"
#include "decide/registry.hpp"
#include "learn/forecast.hpp"
#include "twin/twin_world.hpp"

namespace joulepilot::cli {
namespace {

struct BenchOptions {
    TwinRunOptions twin;
    std::string policies = "static,threshold,idle-fsm,mpc,oracle";
    std::string shapley = "mpc";
    std::string model_path;
    int threads = 2;
};

// Times every decision of the policy it wraps (steady clock, wall time of decide()).
class TimedPolicy final : public decide::Policy {
public:
    explicit TimedPolicy(std::unique_ptr<decide::Policy> inner) : m_inner(std::move(inner)) {}
    [[nodiscard]] std::string_view name() const override { return m_inner->name(); }
    decide::Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                            const decide::Constraints& constraints) override {
        const auto start = std::chrono::steady_clock::now();
        decide::Decision d = m_inner->decide(state, knobs, constraints);
        m_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return d;
    }
    [[nodiscard]] double percentile(double q) const {
        if (m_seconds.empty()) return 0;
        std::vector<double> v = m_seconds;
        const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
        std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
        return v[k];
    }

private:
    std::unique_ptr<decide::Policy> m_inner;
    std::vector<double> m_seconds;
};

struct Job {
    std::unique_ptr<PolicyRun> run;
    TimedPolicy* timed = nullptr;
    std::optional<unsigned> groups;  // a Shapley run
};

double kwh(double joules) { return joules / 3.6e6; }

// Shapley value of each of the 4 groups for the savings v(S) = E(no group) - E(S).
std::array<double, 4> shapley(const std::array<double, 16>& energy) {
    std::array<double, 4> phi{};
    const double factorial[] = {1, 1, 2, 6, 24};
    for (int g = 0; g < 4; ++g) {
        for (unsigned s = 0; s < 16; ++s) {
            if ((s & (1U << g)) != 0) continue;
            const int size = __builtin_popcount(s);
            const double weight = factorial[size] * factorial[4 - size - 1] / factorial[4];
            phi[static_cast<std::size_t>(g)] += weight * (energy[s] - energy[s | (1U << g)]);
        }
    }
    return phi;
}

int bench(const BenchOptions& o, const CLI::App& cmd, const CommandContext& context) {
    core::ConfigDocument doc =
        o.twin.config_path.empty() ? core::ConfigDocument::empty() : core::ConfigDocument::load(o.twin.config_path);
    const ResolvedRun resolved = resolve_twin_run(o.twin, cmd, doc);
    const std::vector<std::string> policies = split_list(o.policies);
    if (policies.empty()) throw BadInput("--policies needs a comma-separated list of policies");

    const TwinInputs inputs = load_twin_inputs(resolved, context.data_dir);
    const twin::ReplicaModel& model = inputs.model;
    const twin::FacilityModel& facility = inputs.facility;
    const twin::Scenario& scenario = inputs.scenario;
    decide::PolicyContext policy_context = inputs.policy_context(resolved, context.data_dir);

    // The energy model is loaded once and shared by every mpc run (read-only).
    const bool wants_mpc = std::find(policies.begin(), policies.end(), "mpc") != policies.end() || o.shapley == "mpc";
    std::optional<learn::TestReport> model_report;
    if (wants_mpc) {
        act::KnobSpace knobs;
        twin::FleetConfig one = resolved.fleet;
        one.gpus = 1;
        twin::TwinWorld probe(model, facility, one, {}, 0);
        for (act::Knob& k : probe.actuator().discover()) knobs.add(std::move(k));
        const std::string path = o.model_path.empty()
                                     ? doc.root().section("policy").section("mpc").string(
                                           "model", context.data_dir + "/models/energy_model.json")
                                     : o.model_path;
        auto loaded = learn::EnergyModel::load(path, decide::knob_space_signature(knobs));
        if (loaded) {
            model_report = loaded->test_report();
            policy_context.energy_model = std::make_shared<const learn::EnergyModel>(std::move(*loaded));
        } else if (!o.model_path.empty()) {
            throw BadInput(loaded.error().message);
        } else {
            std::cerr << "bench: " << loaded.error().message << "; mpc will hold the static settings\n";
        }
    }

    std::vector<Job> jobs;
    auto add_job = [&](const std::string& name, std::optional<unsigned> groups) {
        decide::PolicyContext c = policy_context;
        c.groups = groups;
        auto policy = decide::make_policy(name, doc.root().section("policy").section(name), c);
        if (!policy) throw BadInput(policy.error().message);
        Job job;
        auto timed = std::make_unique<TimedPolicy>(std::move(*policy));
        job.timed = timed.get();
        job.run = std::make_unique<PolicyRun>();
        job.run->name = groups ? fmt::format("{}[{}]", name, decide::groups_to_string(*groups)) : name;
        job.run->policy = std::move(timed);
        job.groups = groups;
        jobs.push_back(std::move(job));
    };
    for (const std::string& name : policies) add_job(name, std::nullopt);
    const bool do_shapley = o.shapley != "none";
    if (do_shapley) {
        if (o.shapley != "mpc" && o.shapley != "oracle") throw BadInput("--shapley: mpc, oracle or none");
        for (unsigned s = 0; s < 16; ++s) {
            const bool reuse = s == decide::kAllGroups &&
                               std::find(policies.begin(), policies.end(), o.shapley) != policies.end();
            if (!reuse) add_job(o.shapley, s);
        }
    }
    decide::read_policy_sections(doc.root().section("policy"), policy_context);
    doc.reject_unknown_keys();

    std::cerr << fmt::format("bench: {} | {} requests over {:.1f} h | {} GPUs | {} runs ({} policies{}) on {} threads\n",
                             scenario.name, scenario.workload.size(), scenario.duration_s / 3600,
                             resolved.fleet.gpus, jobs.size(), policies.size(),
                             do_shapley ? fmt::format(", Shapley over 16 subsets of {}", o.shapley) : "", o.threads);

    // A small pool: each job runs on its own twin; results land in the job.
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    auto worker = [&] {
        for (std::size_t i = next++; i < jobs.size(); i = next++) {
            run_one(*jobs[i].run, model, facility, resolved, scenario);
            ++done;
        }
    };
    std::vector<std::future<void>> workers;
    for (int t = 0; t < std::max(1, o.threads); ++t) workers.push_back(std::async(std::launch::async, worker));
    const bool tty = isatty(STDERR_FILENO) != 0;
    for (auto& w : workers) {
        while (o.twin.progress && w.wait_for(std::chrono::seconds(tty ? 1 : 20)) != std::future_status::ready) {
            std::cerr << fmt::format("{}bench: {}/{} runs done", tty ? "\r" : "", done.load(), jobs.size())
                      << (tty ? "" : "\n") << std::flush;
        }
    }
    for (auto& w : workers) w.get();
    if (o.twin.progress && tty) std::cerr << "\n";

    // ---- the comparison table ------------------------------------------------------------------------
    std::vector<twin::RunSummary> summaries;
    std::vector<const Job*> main_jobs;
    for (const Job& job : jobs) {
        if (job.groups) continue;
        summaries.push_back(job.run->summary);
        main_jobs.push_back(&job);
    }
    auto find = [&](const std::string& name) -> const twin::RunSummary* {
        for (const auto& s : summaries) {
            if (s.policy == name) return &s;
        }
        return nullptr;
    };
    const twin::RunSummary* base = find("static");
    const twin::RunSummary* oracle = find("oracle");
    std::cout << fmt::format("\n{} | {} | {} GPUs | zone {} | SLO TTFT <= {} s, TPOT <= {} ms\n", scenario.name,
                             scenario.scaling_note, resolved.fleet.gpus, resolved.zone, resolved.fleet.slo_ttft_s,
                             resolved.fleet.slo_tpot_s * 1000);
    std::cout << fmt::format("{:<10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>16}\n", "policy",
                             "fac. kWh", "J/token", "/static", "/oracle", "SLO met", "p99 TTFT", "p99 TPOT",
                             "CO2 kg", "cost $", "decide p50/p99");
    nlohmann::json out;
    out["scenario"] = scenario.name;
    out["scaling"] = scenario.scaling_note;
    out["results"] = nlohmann::json::array();
    for (std::size_t i = 0; i < summaries.size(); ++i) {
        const twin::RunSummary& s = summaries[i];
        const TimedPolicy& timed = *main_jobs[i]->timed;
        auto ratio = [&](const twin::RunSummary* ref) {
            return ref != nullptr && ref->facility_energy_j > 0 ? fmt::format("{:.3f}", s.facility_energy_j / ref->facility_energy_j)
                                                                : std::string("-");
        };
        std::cout << fmt::format("{:<10} {:>9.2f} {:>8.3f} {:>8} {:>8} {:>7.2f}% {:>8.3f}s {:>7.1f}ms {:>8.2f} {:>8.2f} {:>7.0f}/{:.0f} us\n",
                                 s.policy, kwh(s.facility_energy_j), s.energy_per_token_j, ratio(base), ratio(oracle),
                                 100 * s.slo_attainment, s.p99_ttft_s, 1000 * s.p99_tpot_s, s.carbon_g / 1000,
                                 s.cost_usd, 1e6 * timed.percentile(0.5), 1e6 * timed.percentile(0.99));
        nlohmann::json j = summary_to_json(s, false);
        j["decide_p50_s"] = timed.percentile(0.5);
        j["decide_p99_s"] = timed.percentile(0.99);
        if (base != nullptr) j["ratio_to_static"] = s.facility_energy_j / base->facility_energy_j;
        if (oracle != nullptr) j["ratio_to_oracle"] = s.facility_energy_j / oracle->facility_energy_j;
        out["results"].push_back(j);
    }

    // ---- Shapley attribution -------------------------------------------------------------------------
    if (do_shapley) {
        std::array<double, 16> energy{};
        std::array<double, 16> attainment{};
        for (const Job& job : jobs) {
            if (job.groups) {
                energy[*job.groups] = job.run->summary.facility_energy_j;
                attainment[*job.groups] = job.run->summary.slo_attainment;
            } else if (job.run->name == o.shapley) {
                energy[decide::kAllGroups] = job.run->summary.facility_energy_j;
                attainment[decide::kAllGroups] = job.run->summary.slo_attainment;
            }
        }
        const std::array<double, 4> phi = shapley(energy);
        const double total = energy[0] - energy[decide::kAllGroups];
        const char* names[] = {"batching", "clocks+power limits", "precision", "replica count"};
        std::cout << fmt::format(
            "\nsavings of {} attributed to knob groups (Shapley values over the 16 runs with each subset of groups "
            "enabled; the others held at their defaults; v(S) = E(no group) - E(S)): total {:.2f} kWh ({:.1f}% of "
            "{} with no group)\n",
            o.shapley, kwh(total), energy[0] > 0 ? 100 * total / energy[0] : 0.0, o.shapley);
        nlohmann::json js;
        js["policy"] = o.shapley;
        js["total_saved_j"] = total;
        for (int g = 0; g < 4; ++g) {
            const double v = phi[static_cast<std::size_t>(g)];
            std::cout << fmt::format("  {:<20} {:>8.2f} kWh  {:>6.1f}% of the savings\n", names[g], kwh(v),
                                     total != 0 ? 100 * v / total : 0.0);
            js["groups"][names[g]] = v;
        }
        for (unsigned s = 0; s < 16; ++s) {
            js["subsets"].push_back({{"groups", decide::groups_to_string(s)},
                                     {"facility_energy_j", energy[s]},
                                     {"slo_attainment", attainment[s]}});
        }
        out["shapley"] = js;
    }

    // ---- forecast quality on this load ---------------------------------------------------------------
    {
        const double step = resolved.loop.decide_interval.value();
        const auto bins = static_cast<std::size_t>(std::ceil(scenario.duration_s / step));
        std::vector<double> rps(bins, 0.0);
        std::vector<double> tokens(bins, 0.0);
        for (const twin::RequestSpec& r : scenario.workload) {
            const auto b = std::min(bins - 1, static_cast<std::size_t>(r.arrival.value() / step));
            rps[b] += 1 / step;
            tokens[b] += (r.input_tokens + r.output_tokens) / step;
        }
        const learn::ForecastScore fr = learn::score_one_step(rps);
        const learn::ForecastScore ft = learn::score_one_step(tokens);
        std::cout << fmt::format(
            "\nforecast of the next {:.0f} s (one step ahead, {} points): requests/s WAPE Holt {:.1f}% vs naive "
            "(persistence) {:.1f}%; tokens/s WAPE Holt {:.1f}% vs naive {:.1f}%\n",
            step, fr.points, 100 * fr.holt_wape, 100 * fr.naive_wape, 100 * ft.holt_wape, 100 * ft.naive_wape);
        out["forecast"] = {{"interval_s", step},        {"points", fr.points},
                           {"rps_holt_wape", fr.holt_wape}, {"rps_naive_wape", fr.naive_wape},
                           {"tokens_holt_wape", ft.holt_wape}, {"tokens_naive_wape", ft.naive_wape}};
    }
    if (model_report) {
        nlohmann::json jm;
        for (std::size_t t = 0; t < learn::kTargetCount; ++t) {
            jm[learn::target_name(static_cast<learn::Target>(t))] = {
                {"test_mape", model_report->targets[t].mape},
                {"upper_coverage", model_report->targets[t].upper_coverage}};
        }
        out["energy_model"] = jm;
    }

    if (!o.twin.json_path.empty()) {
        std::ofstream file(o.twin.json_path);
        file << out.dump(2) << "\n";
        if (!file) throw std::runtime_error("cannot write " + o.twin.json_path);
        std::cerr << "wrote " << o.twin.json_path << "\n";
    }
    if (!o.twin.report_path.empty()) {
        std::ofstream file(o.twin.report_path);
        file << render_report_html(summaries, fmt::format("joulepilot bench: {}", scenario.name));
        if (!file) throw std::runtime_error("cannot write " + o.twin.report_path);
        std::cerr << "wrote " << o.twin.report_path << "\n";
    }
    return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, CommandContext& context) {
    CLI::App* cmd = app.add_subcommand(
        "bench", "Run each policy on the same load in the twin; compare energy, SLO, carbon, cost and decision "
                 "latency, and attribute the savings to knob groups (Shapley)");
    auto options = std::make_shared<BenchOptions>();
    add_twin_workload_options(*cmd, options->twin);
    cmd->add_option("--policies", options->policies, "Comma-separated policies to compare")->capture_default_str();
    cmd->add_option("--shapley", options->shapley,
                    "Policy whose savings are attributed to knob groups (16 extra runs): mpc, oracle or none")
        ->capture_default_str();
    cmd->add_option("--model", options->model_path,
                    "Energy model file for mpc (default: [policy.mpc] model, else <data-dir>/models/energy_model.json)");
    cmd->add_option("--threads", options->threads, "Runs side by side")->check(CLI::Range(1, 64))->capture_default_str();
    cmd->add_option("--json", options->twin.json_path, "Write the results as JSON to this file");
    cmd->add_option("--report", options->twin.report_path, "Write a self-contained HTML report with plots");
    cmd->add_flag("!--no-progress", options->twin.progress, "Do not show progress on stderr");
    cmd->callback([options, cmd, &context] {
        context.action = [options, cmd, &context] {
            // Errors are reported by the app's one guard (app.cpp): bad input exits 2, failures 1.
            return bench(*options, *cmd, context);
        };
    });
}

}  // namespace joulepilot::cli
