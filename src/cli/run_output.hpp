#pragma once
// How twin runs are shown: the comparison table for people and the JSON other tools read.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "twin/run_summary.hpp"

namespace joulepilot::cli {

// The stable keys of one run (scenario, policy, requests, output_tokens, it_energy_j,
// facility_energy_j, energy_per_token_j, p99_ttft_s, p99_tpot_s, slo_attainment, carbon_g, cost_usd,
// sim_wall_s) and the rest of the summary. The timeline only when asked (it is long).
nlohmann::json summary_to_json(const twin::RunSummary& run, bool with_timeline);

// A fixed-width table, one row per policy, ratios against the `static` row when there is one.
std::string format_run_table(const std::vector<twin::RunSummary>& runs, double slo_ttft_s, double slo_tpot_s);

}  // namespace joulepilot::cli
