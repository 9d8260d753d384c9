#include "twin/replica_probe.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "twin/fleet/fleet_sim.hpp"
#include "twin/fleet/replica_sim.hpp"

namespace joulepilot::twin {
namespace {

// The probe reads records after the run; it needs no windowed metrics.
class NoListener final : public RequestListener {
public:
    void on_first_token(std::uint32_t /*request*/, const RequestRecord& /*record*/) override {}
    void on_finish(std::uint32_t /*request*/, const RequestRecord& /*record*/) override {}
};

double p99(std::vector<double>& values) {
    if (values.empty()) return 0.0;
    const auto k = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(values.size()))) - 1;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
}

}  // namespace

ProbeResult probe_replica(const ReplicaModel& model, const GpuSettings& settings,
                          std::span<const RequestSpec> requests, const ProbeWindow& window) {
    const double stop = window.measure_to_s + window.drain_s;
    std::vector<RequestRecord> records;
    records.reserve(requests.size());
    for (const RequestSpec& spec : requests) {
        if (spec.arrival.value() >= stop) break;
        RequestRecord r;
        r.arrival_s = spec.arrival.value();
        r.input_tokens = spec.input_tokens;
        r.output_tokens = std::max(1, spec.output_tokens);
        records.push_back(r);
    }
    NoListener listener;
    ReplicaSim replica(0, model, settings, records, listener, window.prefill_token_budget);

    // Arrivals are fed in order: the replica is advanced to each arrival before it is queued.
    std::size_t next = 0;
    auto run_to = [&](double t) {
        while (next < records.size() && records[next].arrival_s <= t) {
            replica.advance_to(records[next].arrival_s);
            replica.enqueue(static_cast<std::uint32_t>(next));
            ++next;
        }
        replica.advance_to(t);
    };
    run_to(window.measure_from_s);
    const double energy_from = replica.counters().energy_j;
    const double tokens_from = replica.counters().output_tokens;
    run_to(window.measure_to_s);
    const double seconds = std::max(1e-9, window.measure_to_s - window.measure_from_s);
    ProbeResult out;
    out.mean_power_w = (replica.counters().energy_j - energy_from) / seconds;
    out.throughput_tps = (replica.counters().output_tokens - tokens_from) / seconds;
    run_to(stop);

    std::vector<double> ttft;
    std::vector<double> tpot;
    std::size_t met = 0;
    for (const RequestRecord& r : records) {
        if (r.arrival_s < window.measure_from_s || r.arrival_s >= window.measure_to_s) continue;
        ++out.measured;
        if (r.finish_s < 0) {
            // Unfinished at the end of the drain: as late as the probe can tell.
            ttft.push_back(r.first_token_s >= 0 ? r.first_token_s - r.arrival_s : stop - r.arrival_s);
            tpot.push_back(window.drain_s);
            continue;
        }
        ttft.push_back(r.first_token_s - r.arrival_s);
        tpot.push_back(tpot_of(r));
        met += met_slo(r, window.slo_ttft_s, window.slo_tpot_s) ? 1 : 0;
    }
    out.p99_ttft_s = p99(ttft);
    out.p99_tpot_s = p99(tpot);
    out.slo_attainment = out.measured > 0 ? static_cast<double>(met) / static_cast<double>(out.measured) : 1.0;
    return out;
}

}  // namespace joulepilot::twin
