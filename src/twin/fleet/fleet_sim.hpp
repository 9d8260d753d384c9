#pragma once
// The simulated fleet: replicas behind a router that sends each arriving request to the least-loaded
// serving replica. Time advances only through run_until(t), which replays arrivals up to t and runs
// every replica to t. Every `bucket_s` of simulated time it closes an accounting bucket (IT energy,
// arrivals, knob settings), from which the twin derives facility energy, carbon, cost and the timeline.
// Not thread-safe: owned by the loop thread (through the twin world's clock, sensor and actuator).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "twin/fleet/replica_sim.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"
#include "twin/workload/request_stream.hpp"

namespace joulepilot::twin {

struct FleetConfig {
    int gpus = 8;
    GpuSettings defaults;
    double slo_ttft_s = 1.0;
    double slo_tpot_s = 0.1;
    double service_window_s = 60;  // window of the service.* signals
    double bucket_s = 60;          // accounting granularity
    double prefill_token_budget = ReplicaSim::kDefaultPrefillTokenBudget;  // prompt tokens per iteration
};

// One closed accounting bucket.
struct FleetBucket {
    double start_s = 0;
    double duration_s = 0;
    double it_energy_j = 0;
    std::uint64_t arrivals = 0;
    std::uint64_t finished = 0;
    std::uint64_t finished_met_slo = 0;
    // Knob and state snapshot at the end of the bucket.
    int serving_replicas = 0;
    double mean_sm_clock_mhz = 0;
    double mean_power_limit_w = 0;
    double mean_batch_cap = 0;
    double fp8_fraction = 0;
    std::uint64_t queued = 0;
};

// Finished requests, aggregated as they finish.
struct CompletedRequests {
    std::uint64_t count = 0;
    std::uint64_t met_slo = 0;  // met both SLOs
    std::uint64_t output_tokens = 0;
    // One value per finished request, in finishing order: the run's exact percentiles need every value.
    std::vector<double> ttft_s;
    std::vector<double> tpot_s;
};

struct ServiceWindow {
    std::optional<double> ttft_p99_s;
    std::optional<double> tpot_p99_s;
    std::optional<double> slo_attainment;
};

class FleetSim final : public RequestListener {
public:
    // `workload` sorted by arrival; the stream is read only as far as the simulation has reached.
    FleetSim(const ReplicaModel& model, FleetConfig config, std::unique_ptr<RequestStream> workload);
    FleetSim(const ReplicaModel& model, FleetConfig config, Workload workload);
    FleetSim(const FleetSim&) = delete;
    FleetSim& operator=(const FleetSim&) = delete;

    void run_until(double t);
    [[nodiscard]] double now() const { return m_now; }
    // Closes the open accounting bucket at now() (end of a run that stops between bucket boundaries).
    void close_partial_bucket();
    // True when every request of the workload has arrived and finished.
    [[nodiscard]] bool drained() const;

    [[nodiscard]] int size() const { return static_cast<int>(m_replicas.size()); }
    [[nodiscard]] ReplicaSim& replica(int i) { return *m_replicas[static_cast<std::size_t>(i)]; }
    [[nodiscard]] const ReplicaSim& replica(int i) const { return *m_replicas[static_cast<std::size_t>(i)]; }
    [[nodiscard]] const FleetConfig& config() const { return m_config; }
    [[nodiscard]] const ReplicaModel& model() const { return m_model; }

    [[nodiscard]] std::uint64_t arrivals() const { return m_arrivals; }
    // Prompt tokens of every request that has arrived so far.
    [[nodiscard]] double arrived_prompt_tokens() const { return m_arrived_prompt_tokens; }
    // Output tokens generated so far by all replicas.
    [[nodiscard]] double generated_tokens() const;
    [[nodiscard]] double total_it_energy_j() const;
    [[nodiscard]] std::uint64_t total_iterations() const;
    [[nodiscard]] ServiceWindow service_window();
    [[nodiscard]] const CompletedRequests& completed() const { return m_completed; }
    // Record slots allocated so far: the most requests ever in flight at once, not the workload's size.
    [[nodiscard]] std::size_t record_slots() const { return m_records.size(); }
    [[nodiscard]] const std::vector<FleetBucket>& buckets() const { return m_buckets; }

    void on_first_token(std::uint32_t request, const RequestRecord& record) override;
    void on_finish(std::uint32_t request, const RequestRecord& record) override;

private:
    void advance_replicas(double t);
    // A slot for the arriving request, its record filled in.
    std::uint32_t admit_arrival(const RequestSpec& request);
    void route(std::uint32_t request);
    void close_bucket(double end);

    const ReplicaModel& m_model;
    FleetConfig m_config;
    std::unique_ptr<RequestStream> m_workload;
    std::optional<RequestSpec> m_next;                // the next arrival, read ahead; none when exhausted
    std::vector<RequestRecord> m_records;             // slots of requests in flight (replicas index them)
    std::vector<std::uint32_t> m_free_slots;          // slots of finished requests, reused first
    CompletedRequests m_completed;
    std::vector<std::unique_ptr<ReplicaSim>> m_replicas;
    double m_now = 0;
    std::uint64_t m_arrivals = 0;
    std::size_t m_round_robin = 0;  // where the router's next scan starts
    double m_arrived_prompt_tokens = 0;

    // Accounting.
    std::vector<FleetBucket> m_buckets;
    FleetBucket m_open;
    double m_energy_at_bucket_start = 0;

    // Service window: (time, value) of recent first tokens and finishes.
    std::deque<std::pair<double, double>> m_recent_ttft;
    std::deque<std::pair<double, double>> m_recent_tpot;
    std::deque<std::pair<double, bool>> m_recent_met;
    std::vector<double> m_scratch;
};

// Whether a finished request met both SLOs; TPOT is the mean time per output token after the first.
double tpot_of(const RequestRecord& r);
bool met_slo(const RequestRecord& r, double slo_ttft_s, double slo_tpot_s);

}  // namespace joulepilot::twin
