#include "twin/exploration.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "twin/replica_probe.hpp"

namespace joulepilot::twin {

learn::ModelRow explore_one(const ReplicaModel& model, const Workload& workload, std::uint64_t seed,
                            std::uint64_t index, const ExplorationOptions& options) {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + index);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double span = options.warmup_s + options.measure_s + options.drain_s;
    const double duration = workload.empty() ? 0.0 : workload.back().arrival.value();
    const double start = std::max(0.0, duration - span) * unit(rng);
    const double thin = std::exp(std::log(options.max_thin) * unit(rng));

    // The slice, thinned, re-timed so the warm-up starts at 0.
    std::vector<RequestSpec> slice;
    auto it = std::lower_bound(workload.begin(), workload.end(), start,
                               [](const RequestSpec& r, double v) { return r.arrival.value() < v; });
    for (; it != workload.end() && it->arrival.value() < start + span; ++it) {
        if (unit(rng) * thin > 1.0) continue;
        RequestSpec r = *it;
        r.arrival = core::Seconds(r.arrival.value() - start);
        slice.push_back(r);
    }

    static constexpr std::array<int, 10> kCaps = {8, 16, 32, 64, 96, 128, 192, 256, 384, 512};
    GpuSettings s;
    s.sm_clock_cap = core::from_mhz(1005 + 15 * std::floor(unit(rng) * 66));  // 1005..1980 MHz
    s.power_limit = core::Watts(unit(rng) < 0.7 ? 700.0 : 300 + 10 * std::floor(unit(rng) * 41));
    s.batch_cap = kCaps[static_cast<std::size_t>(unit(rng) * kCaps.size()) % kCaps.size()];
    s.precision = unit(rng) < 0.5 ? Precision::fp8 : Precision::bf16;

    ProbeWindow window;
    window.measure_from_s = options.warmup_s;
    window.measure_to_s = options.warmup_s + options.measure_s;
    window.drain_s = options.drain_s;
    window.slo_ttft_s = options.slo_ttft_s;
    window.slo_tpot_s = options.slo_tpot_s;
    window.prefill_token_budget = options.prefill_token_budget;
    const ProbeResult p = probe_replica(model, s, slice, window);

    double requests = 0;
    double prompt = 0;
    double output = 0;
    for (const RequestSpec& r : slice) {
        if (r.arrival.value() < window.measure_from_s || r.arrival.value() >= window.measure_to_s) continue;
        requests += 1;
        prompt += r.input_tokens;
        output += std::max(1, r.output_tokens);
    }
    learn::ModelRow row;
    row.x = {static_cast<float>(requests / options.measure_s), static_cast<float>(prompt / options.measure_s),
             static_cast<float>(output / options.measure_s), static_cast<float>(core::to_mhz(s.sm_clock_cap)),
             static_cast<float>(s.power_limit.value()), static_cast<float>(s.batch_cap),
             s.precision == Precision::fp8 ? 1.0F : 0.0F};
    row.y = {p.mean_power_w, p.p99_ttft_s, p.p99_tpot_s, p.throughput_tps};
    return row;
}

}  // namespace joulepilot::twin
