#pragma once
// One simulated serving replica: a vLLM-style continuous-batching engine on one GPU.
// Each iteration prefills the requests admitted at its start (their first token comes out at its end)
// and decodes one token for every running request. Admission is FIFO while the batch is under the batch
// cap, the iteration's prompt tokens stay within the token budget (vLLM's max_num_batched_tokens; a
// single longer prompt is taken alone) and the KV cache can hold the request's prompt and output
// (reserved at admission: a simplification of vLLM's paged allocation with preemption; it never preempts).
// For speed, runs of pure-decode iterations with no arrival or finish in between are taken in one
// leap: decode time is linear in the context held, so the sum over k iterations is closed-form.
// Not thread-safe: driven by FleetSim on the loop thread.

#include <cstdint>
#include <deque>
#include <queue>
#include <vector>

#include "core/units.hpp"
#include "twin/replica/replica_model.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

// What happened to each request; times in seconds from the start of the run (negative: not yet).
struct RequestRecord {
    double arrival_s = -1;
    double first_token_s = -1;
    double finish_s = -1;
    std::int32_t input_tokens = 0;
    std::int32_t output_tokens = 0;
    std::int16_t replica = -1;
};

// Called when a request produced its first token / finished, to update windowed service metrics.
class RequestListener {
public:
    virtual ~RequestListener() = default;
    virtual void on_first_token(std::uint32_t request, const RequestRecord& record) = 0;
    virtual void on_finish(std::uint32_t request, const RequestRecord& record) = 0;
};

enum class ReplicaState : std::uint8_t { parked = 0, waking = 1, serving = 2, draining = 3 };

// Counters a GPU/replica sensor reads (monotonic, from the start of the run).
struct ReplicaCounters {
    double energy_j = 0;
    double busy_s = 0;        // time spent iterating
    double sm_active_s = 0;   // busy time weighted by the fraction of SMs active
    double mem_active_s = 0;  // busy time weighted by memory activity
    std::uint64_t iterations = 0;
    double output_tokens = 0;  // tokens generated (first tokens included)
};

class ReplicaSim {
public:
    // vLLM's default max_num_batched_tokens for online serving.
    static constexpr double kDefaultPrefillTokenBudget = 8192;

    ReplicaSim(int index, const ReplicaModel& model, GpuSettings settings, std::vector<RequestRecord>& records,
               RequestListener& listener, double prefill_token_budget = kDefaultPrefillTokenBudget);

    // Runs every iteration that ends at or before t; idle time up to t is accounted at idle power.
    void advance_to(double t);
    // Queues a request that arrived at records[id].arrival_s (>= the replica's current time).
    void enqueue(std::uint32_t id);

    void set_settings(const GpuSettings& settings, double now);
    [[nodiscard]] const GpuSettings& settings() const { return m_settings; }
    // Park (drains first when busy) or wake (serving after the model's wake delay).
    void set_active(bool active, double now);
    [[nodiscard]] ReplicaState state() const { return m_state; }
    [[nodiscard]] bool accepts_requests() const { return m_state == ReplicaState::serving; }

    [[nodiscard]] int index() const { return m_index; }
    [[nodiscard]] std::size_t queued() const { return m_queue.size(); }
    [[nodiscard]] std::size_t running() const { return m_running.size(); }
    // Routing load: requests queued and running, plus reserved KV as a tie-breaker.
    [[nodiscard]] double load() const;
    [[nodiscard]] const ReplicaCounters& counters() const { return m_counters; }
    [[nodiscard]] core::Hertz effective_clock() const;

private:
    struct Running {
        std::uint64_t finish_iteration;  // the iteration whose end emits the last token
        std::uint32_t id;
        bool operator>(const Running& other) const { return finish_iteration > other.finish_iteration; }
    };

    void account_idle(double until);
    bool has_work() const { return !m_running.empty() || !m_queue.empty(); }
    // Admits what fits at time m_now; returns the prompt tokens to prefill.
    double admit();
    void finish_due();
    void after_state_change();
    void add_busy(double seconds, double joules, int batch);

    int m_index;
    const ReplicaModel& m_model;
    double m_prefill_token_budget;
    GpuSettings m_settings;
    std::vector<RequestRecord>& m_records;
    RequestListener& m_listener;

    ReplicaState m_state = ReplicaState::serving;
    double m_now = 0;           // end of the last iteration taken (or the time idle accounting reached)
    double m_wake_at = 0;       // when waking ends
    bool m_reload_pending = false;  // a precision change: drain, then reload the model
    Precision m_loaded_precision = Precision::bf16;

    std::deque<std::uint32_t> m_queue;
    std::priority_queue<Running, std::vector<Running>, std::greater<>> m_running;
    std::vector<std::uint32_t> m_admitted;  // admitted at the start of the current iteration
    std::uint64_t m_iteration = 0;          // iterations taken so far
    double m_context_tokens = 0;            // tokens held in KV by running requests
    double m_reserved_tokens = 0;           // prompt + output tokens reserved at admission
    ReplicaCounters m_counters;
};

}  // namespace joulepilot::twin
