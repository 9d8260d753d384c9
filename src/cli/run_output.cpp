#include "cli/run_output.hpp"

#include <fmt/format.h>

#include "core/units.hpp"

namespace joulepilot::cli {

namespace {

nlohmann::json shield_json(const twin::RunSummary& run) {
    nlohmann::json events = nlohmann::json::array();
    for (const twin::ShieldEvent& e : run.shield_events) {
        events.push_back({{"t_s", e.t_s}, {"kind", e.kind}, {"knob", e.knob}, {"before", e.before},
                          {"after", e.after}, {"reason", e.reason}});
    }
    return {{"canaries", run.canaries}, {"rollbacks", run.rollbacks}, {"refused", run.refused_changes},
            {"events", std::move(events)}};
}

// One line per policy whose changes the shield canaried, rolled back or refused, and its rollbacks.
std::string format_shield_lines(const std::vector<twin::RunSummary>& runs) {
    std::string out;
    for (const auto& r : runs) {
        if (r.canaries == 0 && r.rollbacks == 0 && r.refused_changes == 0) continue;
        out += fmt::format("shield ({}): {} canaries, {} rollbacks by the SLO guard, {} settings refused\n", r.policy,
                           r.canaries, r.rollbacks, r.refused_changes);
        int shown = 0;
        for (const auto& e : r.shield_events) {
            if (e.kind != "rollback" || e.reason.rfind("canary failed", 0) == 0) continue;
            if (++shown > 3) break;
            out += fmt::format("  t={:.0f} s rollback {} {:g} -> {:g}: {}\n", e.t_s, e.knob, e.before, e.after, e.reason);
        }
    }
    return out;
}

}  // namespace

nlohmann::json summary_to_json(const twin::RunSummary& run, bool with_timeline) {
    nlohmann::json j = {
        {"scenario", run.scenario},
        {"policy", run.policy},
        {"zone", run.zone},
        {"gpus", run.gpus},
        {"simulated_s", run.simulated_s},
        {"requests", run.requests},
        {"completed", run.completed},
        {"output_tokens", run.output_tokens},
        {"it_energy_j", run.it_energy_j},
        {"facility_energy_j", run.facility_energy_j},
        {"energy_per_token_j", run.energy_per_token_j},
        {"p50_ttft_s", run.p50_ttft_s},
        {"p99_ttft_s", run.p99_ttft_s},
        {"p50_tpot_s", run.p50_tpot_s},
        {"p99_tpot_s", run.p99_tpot_s},
        {"slo_attainment", run.slo_attainment},
        {"throughput_tokens_per_s", run.throughput_tokens_per_s},
        {"carbon_g", run.carbon_g},
        {"cost_usd", run.cost_usd},
        {"mean_pue_estimated", run.mean_pue},
        {"sim_wall_s", run.sim_wall_s},
        {"decode_iterations", run.decode_iterations},
        {"decisions", run.decisions},
        {"knob_changes", run.knob_changes},
        {"shield", shield_json(run)},
    };
    if (with_timeline) {
        nlohmann::json timeline = nlohmann::json::array();
        for (const twin::TimelinePoint& p : run.timeline) {
            timeline.push_back({{"t_s", p.t_s},
                                {"arrivals_rps", p.arrivals_rps},
                                {"fleet_power_w", p.fleet_power_w},
                                {"active_replicas", p.active_replicas},
                                {"mean_sm_clock_mhz", p.mean_sm_clock_mhz},
                                {"mean_power_limit_w", p.mean_power_limit_w},
                                {"mean_batch_cap", p.mean_batch_cap},
                                {"fp8_fraction", p.fp8_fraction},
                                {"slo_attainment", p.slo_attainment},
                                {"queue_requests", p.queue_requests}});
        }
        j["timeline"] = std::move(timeline);
    }
    return j;
}

std::string format_run_table(const std::vector<twin::RunSummary>& runs, double slo_ttft_s, double slo_tpot_s) {
    const twin::RunSummary* baseline = nullptr;
    for (const auto& r : runs) {
        if (r.policy == "static") baseline = &r;
    }
    std::string out;
    out += fmt::format("{:<10} {:>9} {:>10} {:>7} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8} {:>8}\n", "policy",
                       "IT kWh", "facil. kWh", "vs stat", "J/token", "p99 TTFT", "p99 TPOT", "SLO met",
                       "tok/s", "CO2 kg", "cost $", "wall s");
    for (const auto& r : runs) {
        const std::string ratio =
            baseline != nullptr && baseline->facility_energy_j > 0
                ? fmt::format("{:.3f}", r.facility_energy_j / baseline->facility_energy_j)
                : "-";
        out += fmt::format("{:<10} {:>9.2f} {:>10.2f} {:>7} {:>9.3f} {:>8.3f}s {:>8.1f}ms {:>7.2f}% {:>9.0f} {:>9.2f} "
                           "{:>8.2f} {:>8.1f}\n",
                           r.policy, core::to_kwh(core::Joules(r.it_energy_j)),
                           core::to_kwh(core::Joules(r.facility_energy_j)), ratio, r.energy_per_token_j,
                           r.p99_ttft_s, r.p99_tpot_s * 1000, r.slo_attainment * 100, r.throughput_tokens_per_s,
                           r.carbon_g / 1000, r.cost_usd, r.sim_wall_s);
    }
    out += fmt::format(
        "SLO: TTFT <= {:.2f} s and TPOT <= {:.0f} ms. IT = GPU energy; facility = IT x PUE (PUE is estimated: a "
        "stated model of outside temperature and load). CO2 from the hour's grid intensity.\n",
        slo_ttft_s, slo_tpot_s * 1000);
    out += format_shield_lines(runs);
    return out;
}

}  // namespace joulepilot::cli
