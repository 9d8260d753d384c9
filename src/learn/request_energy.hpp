#pragma once
// RequestEnergyLedger: the GPU energy of each served request (issue 5's POST /v1/requests and
// GET /v1/requests/{id}). The agent feeds it two streams as they come:
//   - energy intervals: GPU g used E joules over [start, end) (consecutive reads of its energy counter);
//   - request records: {id, start, end, input_tokens, output_tokens, model, gpu} posted by the model server.
// and asks for the joules and joules per token of a request, and aggregates per model.
//
// How an interval's energy is split (the model, stated):
//   1. Power is taken as uniform over the interval (the counter tells nothing finer).
//   2. The share of the interval during which no request ran on the GPU is *idle* energy: the cost of the
//      GPU being on, kept separate and never charged to a request.
//   3. The rest goes to the requests that overlap the interval in proportion to the tokens each processed
//      in the overlap, assuming a request's tokens (input + output) are spread uniformly over its lifetime
//      [start, end]: weight = tokens x overlap / lifetime. (Prefill is front-loaded in reality; the
//      uniform spread is the simplest assumption a model server's record allows.) A request with
//      start == end puts all its tokens at that instant. When every overlapping request has zero tokens,
//      the overlap time is the weight instead.
//   4. All arithmetic is integer microjoules with cumulative rounding (learn/attribution.hpp), so for every
//      interval, and hence in total: idle_uj + sum(requests' uj) == measured_uj, exactly.
//
// Order and lateness. Requests may be posted before or after the intervals they overlap: each stored
// interval keeps its split, and a request posted later re-splits the stored intervals it overlaps (the
// energy moves from idle or from other requests to it; totals stay exact). Storage is bounded by a
// history window of `history` seconds before the newest interval end seen (the *horizon*):
//   - intervals that begin before the horizon are dropped; their split is final;
//   - a request that ended at or before the horizon is rejected as late (its energy is already final,
//     counted as idle or given to the requests that were posted); the error says by how much it was late;
//   - a request that began before the horizon and ended after it is accepted, marked `partial`: it gets
//     energy only from the intervals still held;
//   - an interval that begins before the horizon is rejected as too old.
// Finished requests stay queryable until `max_requests` are held, oldest evicted first; a request is
// only evicted once it can receive no more energy (ended at or before the horizon). Per-model aggregates
// and the totals include evicted requests.
//
// Pure: no I/O, no clock, no threads. Not thread-safe: the agent's loop thread owns it (the HTTP server
// posts through the loop, or behind the owner's lock).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"

namespace joulepilot::learn {

struct RequestRecord {
    std::string id;
    core::Seconds start{0};  // seconds on the same time base as the energy intervals (Unix seconds)
    core::Seconds end{0};    // >= start
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    std::string model;
    unsigned gpu = 0;  // the GPU that served it (NVML index, as in gpu.<i>.energy_joules_total)
};

struct GpuEnergyInterval {
    unsigned gpu = 0;
    core::Seconds start{0};
    core::Seconds end{0};    // > start
    core::Joules energy{0};  // >= 0, measured over [start, end)
};

struct RequestEnergyOptions {
    core::Seconds history{600};         // how far behind the newest interval posts are still attributed
    std::size_t max_requests = 100000;  // requests kept for queries (finished ones evicted first)
};

// One request as the ledger sees it now.
struct RequestEnergy {
    std::string id;
    std::string model;
    unsigned gpu = 0;
    core::Seconds start{0};
    core::Seconds end{0};
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    std::int64_t energy_uj = 0;
    // Seconds of the request's lifetime covered by intervals it was attributed from; equals the lifetime
    // once every interval it spans has arrived (a gap in the GPU's intervals leaves it short).
    double covered_s = 0.0;
    bool partial = false;  // began before the horizon when posted: energy before it went elsewhere

    [[nodiscard]] core::Joules joules() const { return core::Joules(static_cast<double>(energy_uj) * 1e-6); }
    [[nodiscard]] std::uint64_t tokens() const { return input_tokens + output_tokens; }
    // Joules per token (input + output); nullopt for a request without tokens.
    [[nodiscard]] std::optional<double> joules_per_token() const;
    // Every second of its lifetime measured (and none lost to the horizon).
    [[nodiscard]] bool complete() const;
};

struct ModelEnergy {
    std::string model;
    std::uint64_t requests = 0;
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    std::int64_t energy_uj = 0;

    [[nodiscard]] core::Joules joules() const { return core::Joules(static_cast<double>(energy_uj) * 1e-6); }
    [[nodiscard]] std::optional<double> joules_per_token() const;
};

// Everything measured so far: measured_uj == idle_uj + attributed_uj, always.
struct RequestEnergyTotals {
    std::int64_t measured_uj = 0;
    std::int64_t idle_uj = 0;
    std::int64_t attributed_uj = 0;
    std::uint64_t intervals = 0;
    std::uint64_t requests = 0;          // accepted
    std::uint64_t late_requests = 0;     // rejected: ended at or before the horizon
    std::uint64_t partial_requests = 0;  // accepted, began before the horizon
    std::uint64_t evicted_requests = 0;
};

class RequestEnergyLedger {
public:
    explicit RequestEnergyLedger(RequestEnergyOptions options = {});

    // Fails (naming the field) on a bad record: empty or duplicate id, end < start, non-finite times, a
    // late request (see above), or max_requests held that are all still open to energy.
    core::Result<void> add_request(RequestRecord record);
    // Fails on end <= start, non-finite values, negative energy, energy beyond 1e9 J, an interval that
    // overlaps one already held for the same GPU, or one that begins before the horizon.
    core::Result<void> add_energy(const GpuEnergyInterval& interval);

    [[nodiscard]] std::optional<RequestEnergy> request(std::string_view id) const;
    // Per model, sorted by name.
    [[nodiscard]] std::vector<ModelEnergy> models() const;
    [[nodiscard]] const RequestEnergyTotals& totals() const { return m_totals; }
    // Intervals older than this were dropped; nullopt before the first interval.
    [[nodiscard]] std::optional<core::Seconds> horizon() const;
    [[nodiscard]] std::size_t requests_held() const { return m_requests.size(); }
    [[nodiscard]] std::size_t intervals_held() const;

private:
    using Key = std::uint64_t;  // a request's serial number; stable while it is held
    struct Request {
        RequestEnergy energy;
        bool open = true;  // can still receive energy (ended after the horizon)
    };
    struct Interval {
        double start = 0.0;
        double end = 0.0;
        std::int64_t measured_uj = 0;
        std::int64_t idle_uj = 0;
        std::vector<std::pair<Key, std::int64_t>> shares;  // request -> uj
        std::vector<std::pair<Key, double>> covered;       // request -> overlap seconds
    };
    struct Gpu {
        std::map<double, Interval> intervals;  // by start; never overlapping
        std::vector<Key> open_requests;        // requests that may still overlap an interval
    };

    void split(unsigned gpu, Interval& interval);  // attributes from scratch (no shares held)
    void unsplit(Interval& interval);              // takes its shares back
    void apply(Interval& interval, int sign);      // adds (+1) or removes (-1) the shares
    void trim();                                   // drops what fell behind the horizon
    void evict(std::size_t room);  // evicts closed requests, oldest first, until `room` more fit

    RequestEnergyOptions m_options;
    std::map<unsigned, Gpu> m_gpus;
    std::unordered_map<Key, Request> m_requests;
    std::unordered_map<std::string, Key> m_keys;
    std::deque<Key> m_order;  // insertion order, for eviction
    std::map<std::string, ModelEnergy, std::less<>> m_models;
    RequestEnergyTotals m_totals;
    std::optional<double> m_newest_end;
    Key m_next_key = 1;
};

}  // namespace joulepilot::learn
