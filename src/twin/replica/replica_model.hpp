#pragma once
// The performance and power model of one replica (Llama-3.1-8B-Instruct on one H100 SXM, vLLM-style
// continuous batching). Closed-form and cheap: the fleet simulator calls it once per batch of iterations,
// so nothing here allocates or loops.
//
// Shape of the model (fitted by twin/replica/calibration.hpp from measured public data):
//  - decode iteration time at max clock, bf16:  t = base + per_seq * B + per_ctx_token * C
//    (B sequences in the batch, C total context tokens held in their KV cache);
//  - prefill time of a group of prompts:  t = prefill_base + prefill_per_token * tokens;
//  - fp8 (weights and KV cache) divides the weight-streaming part of decode, the KV-reading part and
//    prefill by their measured speedups; the per-sequence overhead is unchanged;
//  - an SM clock f below max stretches only the compute-bound part of each iteration by f_max / f:
//    B * decode_compute_per_seq of a decode iteration (roofline: it grows with the batch, the weight and
//    KV streaming part does not depend on the SM clock; capped at the whole iteration),
//    prefill_compute_fraction of a prefill;
//  - busy power at max clock:  P(B) = floor + span * (1 - exp(-B / batch_scale)); below max clock
//    P(B, f) = static + (P(B) - static) * (f / f_max)^clock_exponent; a power limit below P lowers the
//    effective clock until P(B, f) = limit (closed form); a limit the lowest clock still exceeds
//    duty-cycles the GPU (time stretched by P / limit, power held at the limit);
//  - idle power (model loaded, no work), parked power (replica asleep) and a wake delay.
// Thread-safe: const after construction.

#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "core/units.hpp"
#include "twin/replica/gpu_settings.hpp"

namespace joulepilot::twin {

struct ReplicaModelParams {
    // Decode iteration, bf16, max clock.
    double decode_base_s = 0;
    double decode_per_seq_s = 0;
    double decode_per_ctx_token_s = 0;
    // The clock-scalable (compute-bound) time per sequence inside a decode iteration, at max clock.
    double decode_compute_per_seq_s = 0;
    // For hand-set parameters only (calibration sets decode_compute_per_seq_s): when that is 0, the
    // compute-bound share of a decode iteration is B / (B + knee), the batch where it is half.
    double decode_compute_knee_batch = 0;
    // Prefill of a group of prompts, bf16, max clock.
    double prefill_base_s = 0;
    double prefill_per_token_s = 0;
    // Share of prefill time that scales with f_max / f.
    double prefill_compute_fraction = 1;
    // fp8 speedups (>= 1): weight streaming in decode (base term), KV reads (context term), prefill.
    double fp8_decode_speedup = 1;
    double fp8_kv_speedup = 1;
    double fp8_prefill_speedup = 1;
    // Power.
    double power_floor_w = 0;      // busy decode power as the batch goes to 0, max clock
    double power_span_w = 0;       // added by a saturated batch
    double power_batch_scale = 1;  // batch size of the saturation (sequences)
    double prefill_power_w = 0;    // power while prefilling at max clock
    double static_power_w = 0;     // clock-independent part of busy power
    double clock_exponent = 1;     // dynamic power ~ (f/f_max)^clock_exponent
    double fp8_power_factor = 1;   // busy power multiplier under fp8
    double idle_power_w = 0;       // model loaded, nothing running
    double parked_power_w = 0;     // replica parked (asleep)
    double wake_delay_s = 0;       // parked -> serving
    // KV cache capacity in tokens with bf16 weights and KV, and with fp8 weights and KV (fp8 halves the
    // bytes per token and frees half the weight memory); an fp8 capacity of 0 means twice the bf16 one.
    double kv_capacity_tokens = 0;
    double fp8_kv_capacity_tokens = 0;
    double max_clock_mhz = 1980;
    double min_clock_mhz = 210;
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
    // full (used to scale workloads to the fleet; see rate_scaling.hpp): its share of the full batch's
    // decode iterations plus its own prefill. The full batch is the batch cap, or fewer when the KV cache
    // cannot hold that many requests of this size.
    [[nodiscard]] double request_cost_s(int input_tokens, int output_tokens, const GpuSettings& s) const;

private:
    // Where the GPU settles for a phase whose busy power at max clock is `power_at_max_w`.
    struct OperatingPoint {
        double clock_ratio;  // f / f_max
        double power_w;      // drawn power, never above the limit
        double throttle;     // >= 1: time stretch when even the lowest clock exceeds the limit
    };
    [[nodiscard]] OperatingPoint operating_point(double power_at_max_w, const GpuSettings& s) const;
    [[nodiscard]] double busy_power_at_max_w(int batch, Precision p) const;

    ReplicaModelParams m_p;
};

}  // namespace joulepilot::twin
