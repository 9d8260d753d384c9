#include "twin/fleet/replica_sim.hpp"

#include <algorithm>
#include <cmath>

namespace joulepilot::twin {
namespace {

// Fractions of SMs and of memory bandwidth busy while iterating. Not calibrated (no public per-batch
// DCGM data for H100 decode): decode is memory-bound, its SM activity grows with the batch; prefill is
// compute-bound. These only feed the activity signals idle detectors read; energy never depends on them.
double decode_sm_fraction(int batch) { return std::min(1.0, 0.25 + 0.75 * batch / (batch + 96.0)); }
constexpr double kDecodeMemFraction = 0.85;
constexpr double kPrefillSmFraction = 0.95;
constexpr double kPrefillMemFraction = 0.40;

// Smallest k >= 1 such that k*t0 + d*k*(k-1)/2 >= remaining (the k-th iteration ends at or after the
// target). t0 > 0, d >= 0.
double iterations_to_cover(double remaining, double t0, double d) {
    if (remaining <= t0) return 1;
    if (d <= t0 * 1e-12) return std::ceil(remaining / t0);
    const double a = d / 2;
    const double b = t0 - d / 2;
    const double k = (-b + std::sqrt(b * b + 4 * a * remaining)) / (2 * a);
    return std::max(1.0, std::ceil(k - 1e-9));
}

}  // namespace

ReplicaSim::ReplicaSim(int index, const ReplicaModel& model, GpuSettings settings,
                       std::vector<RequestRecord>& records, RequestListener& listener, double prefill_token_budget)
    : m_index(index),
      m_model(model),
      m_prefill_token_budget(prefill_token_budget),
      m_settings(settings),
      m_records(records),
      m_listener(listener),
      m_loaded_precision(settings.precision) {}

double ReplicaSim::load() const {
    return static_cast<double>(m_queue.size() + m_running.size()) +
           m_reserved_tokens / std::max(1.0, m_model.kv_capacity_tokens(m_loaded_precision));
}

core::Hertz ReplicaSim::effective_clock() const {
    GpuSettings s = m_settings;
    s.precision = m_loaded_precision;
    return m_model.effective_clock(std::max<int>(1, static_cast<int>(m_running.size())), s);
}

void ReplicaSim::account_idle(double until) {
    if (until <= m_now) return;
    GpuSettings s = m_settings;
    s.precision = m_loaded_precision;
    const double power_w = (m_state == ReplicaState::parked) ? m_model.parked_power().value()
                                                             : m_model.idle_power(s).value();
    m_counters.energy_j += power_w * (until - m_now);
    m_now = until;
}

void ReplicaSim::add_busy(double seconds, double joules, int batch) {
    m_counters.busy_s += seconds;
    m_counters.energy_j += joules;
    m_counters.sm_active_s += seconds * decode_sm_fraction(batch);
    m_counters.mem_active_s += seconds * kDecodeMemFraction;
}

void ReplicaSim::enqueue(std::uint32_t id) {
    m_records[id].replica = static_cast<std::int16_t>(m_index);
    m_queue.push_back(id);
}

double ReplicaSim::admit() {
    m_admitted.clear();
    const double capacity = m_model.kv_capacity_tokens(m_loaded_precision);
    double prompt_tokens = 0;
    while (!m_queue.empty() && static_cast<int>(m_running.size()) < m_settings.batch_cap) {
        const std::uint32_t id = m_queue.front();
        const RequestRecord& r = m_records[id];
        if (r.arrival_s > m_now) break;
        if (!m_admitted.empty() && prompt_tokens + r.input_tokens > m_prefill_token_budget) break;
        const double need = r.input_tokens + r.output_tokens;
        // A request larger than the whole cache still runs alone rather than block the queue forever.
        if (m_reserved_tokens + need > capacity && !m_running.empty()) break;
        m_queue.pop_front();
        m_reserved_tokens += need;
        m_running.push({m_iteration + static_cast<std::uint64_t>(r.output_tokens) - 1, id});
        m_admitted.push_back(id);
        prompt_tokens += r.input_tokens;
    }
    return prompt_tokens;
}

void ReplicaSim::finish_due() {
    while (!m_running.empty() && m_running.top().finish_iteration < m_iteration) {
        const std::uint32_t id = m_running.top().id;
        m_running.pop();
        RequestRecord& r = m_records[id];
        r.finish_s = m_now;
        m_context_tokens -= r.input_tokens + r.output_tokens;
        m_reserved_tokens -= r.input_tokens + r.output_tokens;
        m_listener.on_finish(id, r);
    }
    if (m_running.empty()) {
        m_context_tokens = 0;  // no drift from floating-point sums
        m_reserved_tokens = 0;
    }
}

void ReplicaSim::after_state_change() {
    if (m_state == ReplicaState::draining && !has_work()) {
        if (m_reload_pending) {
            m_reload_pending = false;
            m_loaded_precision = m_settings.precision;
            m_state = ReplicaState::waking;
            m_wake_at = m_now + m_model.wake_delay().value();
        } else {
            m_state = ReplicaState::parked;
        }
    }
}

void ReplicaSim::advance_to(double t) {
    while (m_now < t) {
        after_state_change();
        if (m_state == ReplicaState::parked) {
            account_idle(t);
            return;
        }
        if (m_state == ReplicaState::waking) {
            if (m_wake_at > t) {
                account_idle(t);
                return;
            }
            account_idle(m_wake_at);
            m_state = ReplicaState::serving;
            continue;
        }
        if (!has_work()) {
            account_idle(t);
            return;
        }
        if (m_running.empty() && m_records[m_queue.front()].arrival_s > m_now) {
            account_idle(std::min(t, m_records[m_queue.front()].arrival_s));
            continue;
        }

        GpuSettings s = m_settings;
        s.precision = m_loaded_precision;
        const int decoding = static_cast<int>(m_running.size());
        const double prompt_tokens = admit();

        if (!m_admitted.empty()) {
            // One mixed iteration: prefill the admitted prompts, decode the running batch.
            const double prefill_s = m_model.prefill_time(prompt_tokens, s).value();
            const double decode_s = decoding > 0 ? m_model.decode_time(decoding, m_context_tokens, s).value() : 0.0;
            const double joules = m_model.prefill_power(s).value() * prefill_s +
                                  (decoding > 0 ? m_model.decode_power(decoding, s).value() * decode_s : 0.0);
            m_counters.busy_s += prefill_s + decode_s;
            m_counters.energy_j += joules;
            m_counters.sm_active_s += prefill_s * kPrefillSmFraction + decode_s * decode_sm_fraction(decoding);
            m_counters.mem_active_s += prefill_s * kPrefillMemFraction + decode_s * kDecodeMemFraction;
            m_counters.iterations += 1;
            m_counters.output_tokens += decoding + static_cast<double>(m_admitted.size());
            m_context_tokens += decoding + prompt_tokens + static_cast<double>(m_admitted.size());
            m_now += prefill_s + decode_s;
            ++m_iteration;
            for (std::uint32_t id : m_admitted) {
                m_records[id].first_token_s = m_now;
                m_listener.on_first_token(id, m_records[id]);
            }
            finish_due();
            continue;
        }

        if (decoding == 0) {
            // Queued work that cannot be admitted and nothing running: cannot happen with the
            // "run alone" rule above, but never spin.
            account_idle(t);
            return;
        }
        // A leap of k pure-decode iterations: no admission is possible until a request finishes.
        const double t0 = m_model.decode_time(decoding, m_context_tokens, s).value();
        const double t1 = m_model.decode_time(decoding, m_context_tokens + decoding, s).value();
        const double d = std::max(0.0, t1 - t0);
        const double until_finish = static_cast<double>(m_running.top().finish_iteration - m_iteration + 1);
        const double k = std::max(1.0, std::min(until_finish, iterations_to_cover(t - m_now, t0, d)));
        const double seconds = k * t0 + d * k * (k - 1) / 2;
        add_busy(seconds, m_model.decode_power(decoding, s).value() * seconds, decoding);
        m_counters.iterations += static_cast<std::uint64_t>(k);
        m_counters.output_tokens += decoding * k;
        m_context_tokens += decoding * k;
        m_now += seconds;
        m_iteration += static_cast<std::uint64_t>(k);
        finish_due();
    }
    after_state_change();
}

void ReplicaSim::set_settings(const GpuSettings& settings, double now) {
    advance_to(now);
    m_settings = settings;
    if (settings.precision != m_loaded_precision) {
        // Switching precision means reloading the model: drain, reload (the wake delay), serve again.
        m_reload_pending = true;
        if (m_state == ReplicaState::serving) m_state = ReplicaState::draining;
        if (m_state == ReplicaState::parked) {
            m_reload_pending = false;
            m_loaded_precision = settings.precision;
        }
    } else {
        m_reload_pending = false;
    }
    after_state_change();
}

void ReplicaSim::set_active(bool active, double now) {
    advance_to(now);
    if (active) {
        if (m_state == ReplicaState::parked) {
            m_state = ReplicaState::waking;
            m_wake_at = std::max(now, m_now) + m_model.wake_delay().value();
            m_loaded_precision = m_settings.precision;
            m_reload_pending = false;
        } else if (m_state == ReplicaState::draining && !m_reload_pending) {
            m_state = ReplicaState::serving;
        }
    } else if (m_state == ReplicaState::serving || m_state == ReplicaState::waking) {
        m_state = m_state == ReplicaState::waking ? ReplicaState::parked : ReplicaState::draining;
        m_reload_pending = false;
    }
    after_state_change();
}

}  // namespace joulepilot::twin
