#include "twin/fleet/fleet_sim.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace joulepilot::twin {

double tpot_of(const RequestRecord& r) {
    if (r.output_tokens <= 1 || r.finish_s < 0 || r.first_token_s < 0) return 0.0;
    return (r.finish_s - r.first_token_s) / (r.output_tokens - 1);
}

bool met_slo(const RequestRecord& r, double slo_ttft_s, double slo_tpot_s) {
    if (r.finish_s < 0) return false;
    return (r.first_token_s - r.arrival_s) <= slo_ttft_s && tpot_of(r) <= slo_tpot_s;
}

FleetSim::FleetSim(const ReplicaModel& model, FleetConfig config, Workload workload)
    : FleetSim(model, config, workload_source(std::move(workload))->open()) {}

FleetSim::FleetSim(const ReplicaModel& model, FleetConfig config, std::unique_ptr<RequestStream> workload)
    : m_model(model), m_config(config), m_workload(std::move(workload)) {
    if (m_workload != nullptr) m_next = m_workload->next();
    for (int i = 0; i < m_config.gpus; ++i) {
        m_replicas.push_back(std::make_unique<ReplicaSim>(i, m_model, m_config.defaults, m_records, *this,
                                                          m_config.prefill_token_budget));
    }
}

double FleetSim::total_it_energy_j() const {
    double sum = 0;
    for (const auto& r : m_replicas) sum += r->counters().energy_j;
    return sum;
}

double FleetSim::generated_tokens() const {
    double sum = 0;
    for (const auto& r : m_replicas) sum += r->counters().output_tokens;
    return sum;
}

std::uint64_t FleetSim::total_iterations() const {
    std::uint64_t sum = 0;
    for (const auto& r : m_replicas) sum += r->counters().iterations;
    return sum;
}

void FleetSim::advance_replicas(double t) {
    for (auto& r : m_replicas) r->advance_to(t);
}

std::uint32_t FleetSim::admit_arrival(const RequestSpec& request) {
    std::uint32_t slot = 0;
    if (!m_free_slots.empty()) {
        slot = m_free_slots.back();
        m_free_slots.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(m_records.size());
        m_records.emplace_back();
    }
    RequestRecord& r = m_records[slot];
    r = RequestRecord{};
    r.arrival_s = request.arrival.value();
    r.input_tokens = request.input_tokens;
    r.output_tokens = std::max(1, request.output_tokens);
    return slot;
}

void FleetSim::route(std::uint32_t request) {
    // Least loaded; ties go round-robin (a scan starting after the last choice), as load balancers do.
    ReplicaSim* best = nullptr;
    double best_load = std::numeric_limits<double>::infinity();
    const std::size_t n = m_replicas.size();
    for (std::size_t k = 0; k < n; ++k) {
        ReplicaSim& r = *m_replicas[(m_round_robin + k) % n];
        if (r.accepts_requests() && r.load() < best_load) {
            best = &r;
            best_load = r.load();
        }
    }
    if (best != nullptr) m_round_robin = static_cast<std::size_t>(best->index()) + 1;
    // Nobody serving: queue at a replica that is waking (it will serve first), else at replica 0,
    // where the request waits (and misses its SLO) until a policy wakes a replica.
    if (best == nullptr) {
        for (auto& r : m_replicas) {
            if (r->state() == ReplicaState::waking && (best == nullptr || r->load() < best->load())) best = r.get();
        }
    }
    if (best == nullptr) best = m_replicas.front().get();
    best->enqueue(request);
}

void FleetSim::close_bucket(double end) {
    const double energy = total_it_energy_j();
    m_open.it_energy_j = energy - m_energy_at_bucket_start;
    m_open.duration_s = end - m_open.start_s;
    m_energy_at_bucket_start = energy;
    int serving = 0;
    double clock = 0;
    double limit = 0;
    double cap = 0;
    double fp8 = 0;
    std::uint64_t queued = 0;
    for (const auto& r : m_replicas) {
        queued += r->queued();
        if (r->state() != ReplicaState::serving) continue;
        ++serving;
        clock += core::to_mhz(r->effective_clock());
        limit += r->settings().power_limit.value();
        cap += r->settings().batch_cap;
        fp8 += r->settings().precision == Precision::fp8 ? 1 : 0;
    }
    m_open.serving_replicas = serving;
    if (serving > 0) {
        m_open.mean_sm_clock_mhz = clock / serving;
        m_open.mean_power_limit_w = limit / serving;
        m_open.mean_batch_cap = cap / serving;
        m_open.fp8_fraction = fp8 / serving;
    }
    m_open.queued = queued;
    m_buckets.push_back(m_open);
    m_open = FleetBucket{};
    m_open.start_s = end;
}

void FleetSim::close_partial_bucket() {
    if (m_now > m_open.start_s) close_bucket(m_now);
}

bool FleetSim::drained() const {
    if (m_next) return false;
    for (const auto& r : m_replicas) {
        if (r->queued() > 0 || r->running() > 0) return false;
    }
    return true;
}

void FleetSim::run_until(double t) {
    while (m_now < t) {
        const double bucket_end = m_open.start_s + m_config.bucket_s;
        const double next_arrival = m_next ? m_next->arrival.value() : std::numeric_limits<double>::infinity();
        if (next_arrival <= t && next_arrival < bucket_end) {
            const double arrival = std::max(next_arrival, m_now);
            advance_replicas(arrival);
            m_now = arrival;
            const std::uint32_t slot = admit_arrival(*m_next);
            route(slot);
            m_arrived_prompt_tokens += m_records[slot].input_tokens;
            ++m_arrivals;
            ++m_open.arrivals;
            m_next = m_workload->next();
            continue;
        }
        const double target = std::min(t, bucket_end);
        advance_replicas(target);
        m_now = target;
        if (m_now >= bucket_end) close_bucket(bucket_end);
    }
}

void FleetSim::on_first_token(std::uint32_t /*request*/, const RequestRecord& record) {
    m_recent_ttft.emplace_back(record.first_token_s, record.first_token_s - record.arrival_s);
}

void FleetSim::on_finish(std::uint32_t request, const RequestRecord& record) {
    const bool met = met_slo(record, m_config.slo_ttft_s, m_config.slo_tpot_s);
    const double tpot = tpot_of(record);
    m_recent_tpot.emplace_back(record.finish_s, tpot);
    m_recent_met.emplace_back(record.finish_s, met);
    ++m_open.finished;
    m_open.finished_met_slo += met ? 1 : 0;
    ++m_completed.count;
    m_completed.met_slo += met ? 1 : 0;
    m_completed.output_tokens += static_cast<std::uint64_t>(record.output_tokens);
    m_completed.ttft_s.push_back(record.first_token_s - record.arrival_s);
    m_completed.tpot_s.push_back(tpot);
    // The replica is done with the record (it calls this last): the slot serves the next arrival.
    m_free_slots.push_back(request);
}

ServiceWindow FleetSim::service_window() {
    const double since = m_now - m_config.service_window_s;
    auto drop_old = [since](auto& window) {
        while (!window.empty() && window.front().first < since) window.pop_front();
    };
    drop_old(m_recent_ttft);
    drop_old(m_recent_tpot);
    drop_old(m_recent_met);
    auto p99 = [this](const std::deque<std::pair<double, double>>& window) -> std::optional<double> {
        if (window.empty()) return std::nullopt;
        m_scratch.clear();
        for (const auto& [time, value] : window) m_scratch.push_back(value);
        const auto k = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(m_scratch.size()))) - 1;
        std::nth_element(m_scratch.begin(), m_scratch.begin() + static_cast<std::ptrdiff_t>(k), m_scratch.end());
        return m_scratch[k];
    };
    ServiceWindow out;
    out.ttft_p99_s = p99(m_recent_ttft);
    out.tpot_p99_s = p99(m_recent_tpot);
    if (!m_recent_met.empty()) {
        std::size_t met = 0;
        for (const auto& [time, ok] : m_recent_met) met += ok ? 1 : 0;
        out.slo_attainment = static_cast<double>(met) / static_cast<double>(m_recent_met.size());
    }
    return out;
}

}  // namespace joulepilot::twin
