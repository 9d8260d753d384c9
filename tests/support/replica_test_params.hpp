#pragma once
// A simple, hand-set replica model (not the calibrated one) for simulator tests, so expectations can be
// computed exactly from the model's own API.

#include "twin/replica/replica_model.hpp"

namespace joulepilot::testing {

inline twin::ReplicaModelParams replica_test_params() {
    twin::ReplicaModelParams p;
    p.decode_base_s = 0.006;
    p.decode_per_seq_s = 0.00007;
    p.decode_per_ctx_token_s = 2e-8;
    p.decode_compute_knee_batch = 128;
    p.prefill_base_s = 0.005;
    p.prefill_per_token_s = 0.00005;
    p.fp8_decode_speedup = 1.4;
    p.fp8_prefill_speedup = 1.5;
    p.power_floor_w = 450;
    p.power_span_w = 250;
    p.power_batch_scale = 60;
    p.prefill_power_w = 650;
    p.static_power_w = 120;
    p.clock_exponent = 2;
    p.fp8_power_factor = 0.95;
    p.idle_power_w = 110;
    p.parked_power_w = 65;
    p.wake_delay_s = 30;
    p.kv_capacity_tokens = 400000;
    return p;
}

}  // namespace joulepilot::testing
