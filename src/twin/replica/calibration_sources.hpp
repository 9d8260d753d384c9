#pragma once
// Readers for the measured public data the replica model is calibrated against. Each reader checks the
// header by column name, converts to SI at the edge (ms -> s, mW -> W) and keeps only the rows that
// describe our replica or the effect it calibrates. Every malformed row is an error naming the file, the
// line and the column: "<file>:<line>: column 'avg_power': not a number ('12x')".

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace joulepilot::twin {

// ML.ENERGY leaderboard v3, llm_configs.csv: Llama-3.1-8B-Instruct on one H100, bf16, sorted by batch cap.
struct MlEnergyRow {
    int max_num_seqs = 0;              // the server's batch cap
    double avg_batch_size = 0;         // measured mean running batch
    double avg_power_w = 0;            // GPU power
    double energy_per_token_j = 0;     // GPU energy per output token, prefill included
    double median_itl_s = 0;           // median inter-token latency
    double output_throughput_tps = 0;  // output tokens per second
    double avg_output_len = 0;         // tokens
};
core::Result<std::vector<MlEnergyRow>> load_mlenergy_h100_llama8b(const std::filesystem::path& file);

// Argonne LLM-Inference-Bench: one batch of `batch` requests, each `length` tokens in and `length` out,
// Llama-3-8B on one H100 with vLLM; latency of the whole batch. Sorted by (length, batch).
struct ArgonneRun {
    int length = 0;
    int batch = 0;
    double latency_s = 0;
    double power_w = 0;  // power_results.csv only (its avg_power is in mW); 0 elsewhere
};
enum class ArgonnePrecision { fp16, fp8 };
// All_results.csv: bf16/fp16 runs.
core::Result<std::vector<ArgonneRun>> load_argonne_latency(const std::filesystem::path& file);
// power_results.csv: runs with their mean GPU power.
core::Result<std::vector<ArgonneRun>> load_argonne_power(const std::filesystem::path& file);
// A100_H100_quant_all_results.csv: runs with fp16 weights and KV cache, or fp8 weights and KV cache
// (mixed settings are left out: our precision knob switches both).
core::Result<std::vector<ArgonneRun>> load_argonne_quant(const std::filesystem::path& file,
                                                         ArgonnePrecision precision);

// Splitwise perf model: prefill time of llama2-70b on two H100s (tensor parallel 2) for a batch of
// `batch` prompts of `prompt_size` tokens, the mean of the repeats (and of every output length, which
// prefill does not depend on). Sorted by (total tokens, batch).
struct PrefillPoint {
    int prompt_size = 0;
    int batch = 0;
    double prompt_time_s = 0;
};
core::Result<std::vector<PrefillPoint>> load_splitwise_prefill(const std::filesystem::path& file);

// Perseus stage profiles (A100 SXM): time and energy of one pipeline computation at each SM clock.
// `series` names the computation ("<file stem> stage 3 forward"); rows sorted by (series, clock).
struct ClockPoint {
    std::string series;
    double clock_mhz = 0;
    double time_s = 0;
    double energy_j = 0;
};
core::Result<std::vector<ClockPoint>> load_zeus_stage_profile(const std::filesystem::path& file);

// Zeus power-limit sweeps (older GPUs): epoch time and mean power of one training job at each power
// limit. `series` names the job; rows sorted by (series, limit).
struct PowerLimitPoint {
    std::string series;
    double power_limit_w = 0;
    double time_s = 0;
    double power_w = 0;
};
core::Result<std::vector<PowerLimitPoint>> load_zeus_power_limit(const std::filesystem::path& file);

}  // namespace joulepilot::twin
