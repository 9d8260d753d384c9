#pragma once
// The performance and power model of one replica (Llama-3.1-8B-Instruct on one H100 SXM, vLLM-style
// continuous batching). Closed-form and cheap: the fleet simulator calls it once per batch of iterations.
//
// Shape of the model (fitted by twin/replica/calibration.hpp from measured public data):
//  - decode iteration time at max clock, bf16:  t = base + per_seq * B + per_ctx_token * C
//    (B sequences in the batch, C total context tokens held in their KV cache);
//  - prefill time of a group of prompts:  t = prefill_base + prefill_per_token * tokens;
//  - fp8 divides the memory-bound parts by fp8 speedups;
//  - an SM clock f below max stretches the compute-bound fraction of each iteration by f_max / f;
//    the compute-bound fraction of decode grows with the batch (roofline); prefill is compute-bound;
//  - busy power at max clock:  P(B) = floor + span * (1 - exp(-B / batch_scale)), its dynamic part
//    scaling as (f / f_max)^clock_exponent; a power limit below P lowers the effective clock until
//    P(B, f) <= limit (closed form);
//  - idle power (model loaded, no work), parked power (replica asleep) and a wake delay.
// Thread-safe: const after construction.

#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "core/units.hpp"
#include "twin/replica/gpu_settings.hpp"

namespace joulepilot::twin {

struct ReplicaModelParams {
    // Decode, bf16, max clock.
    double decode_base_s = 0;
    double decode_per_seq_s = 0;
    double decode_per_ctx_token_s = 0;
    // Batch at which decode is half compute-bound (roofline knee); sets the clock sensitivity.
    double decode_compute_knee_batch = 0;
    // Prefill, bf16, max clock.
    double prefill_base_s = 0;
    double prefill_per_token_s = 0;
    // fp8 speedups (> 1) of decode and prefill.
    double fp8_decode_speedup = 1;
    double fp8_prefill_speedup = 1;
    // Power.
    double power_floor_w = 0;
    double power_span_w = 0;
    double power_batch_scale = 1;
    double prefill_power_w = 0;     // power while prefilling at max clock
    double static_power_w = 0;      // clock-independent part of busy power
    double clock_exponent = 1;      // dynamic power ~ (f/f_max)^clock_exponent
    double fp8_power_factor = 1;    // busy power multiplier under fp8
    double idle_power_w = 0;        // model loaded, nothing running
    double parked_power_w = 0;      // replica parked (asleep)
    double wake_delay_s = 0;        // parked -> serving
    // KV cache capacity in tokens (bf16 KV); fp8 KV doubles it.
    double kv_capacity_tokens = 0;
    double max_clock_mhz = 1980;
};

class ReplicaModel {
public:
    explicit ReplicaModel(ReplicaModelParams params) : m_p(params) {}

    // Fits the model to the measured data under `data_dir` (see calibration.hpp).
    static core::Result<ReplicaModel> calibrated(const std::filesystem::path& data_dir);

    [[nodiscard]] const ReplicaModelParams& params() const { return m_p; }

    [[nodiscard]] core::Seconds decode_time(int batch, double context_tokens, const GpuSettings& s) const;
    [[nodiscard]] core::Seconds prefill_time(double prompt_tokens, const GpuSettings& s) const;
    [[nodiscard]] core::Watts decode_power(int batch, const GpuSettings& s) const;
    [[nodiscard]] core::Watts prefill_power(const GpuSettings& s) const;
    [[nodiscard]] core::Watts idle_power(const GpuSettings& s) const;
    [[nodiscard]] core::Watts parked_power() const;
    [[nodiscard]] core::Seconds wake_delay() const;
    [[nodiscard]] double kv_capacity_tokens(Precision p) const;
    // The SM clock the GPU runs at under the cap and the power limit, for a decode batch of `batch`.
    [[nodiscard]] core::Hertz effective_clock(int batch, const GpuSettings& s) const;

    // Replica-seconds of work one request costs when the replica runs at settings `s` with its batch
    // full (used to scale workloads to the fleet; see rate_scaling.hpp).
    [[nodiscard]] double request_cost_s(int input_tokens, int output_tokens, const GpuSettings& s) const;

private:
    ReplicaModelParams m_p;
};

}  // namespace joulepilot::twin
