#include "learn/request_energy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "learn/attribution.hpp"

namespace joulepilot::learn {
namespace {

// Per interval. Far above any GPU interval (700 W for a day is 6e7 J), and low enough that the energy in
// integer microjoules is exact in a double (< 2^53), so the split adds up to the interval bit for bit.
constexpr double kMaxJoules = 1e9;

double overlap(double a0, double a1, double b0, double b1) {
    return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

// Length of the union of [start, end) spans (sorted in place).
double union_length(std::vector<std::pair<double, double>>& spans) {
    std::sort(spans.begin(), spans.end());
    double total = 0.0;
    double run_start = 0.0;
    double run_end = 0.0;
    bool open = false;
    for (const auto& [s, e] : spans) {
        if (open && s <= run_end) {
            run_end = std::max(run_end, e);
            continue;
        }
        if (open) total += run_end - run_start;
        run_start = s;
        run_end = e;
        open = true;
    }
    if (open) total += run_end - run_start;
    return total;
}

std::optional<double> per_token(std::int64_t uj, std::uint64_t tokens) {
    if (tokens == 0) return std::nullopt;
    return static_cast<double>(uj) * 1e-6 / static_cast<double>(tokens);
}

}  // namespace

std::optional<double> RequestEnergy::joules_per_token() const { return per_token(energy_uj, tokens()); }

bool RequestEnergy::complete() const {
    const double lifetime = (end - start).value();
    // Coverage is a sum of overlaps in double: allow for its rounding.
    return !partial && covered_s >= lifetime - 1e-9 * std::max(1.0, lifetime);
}

std::optional<double> ModelEnergy::joules_per_token() const {
    return per_token(energy_uj, input_tokens + output_tokens);
}

RequestEnergyLedger::RequestEnergyLedger(RequestEnergyOptions options) : m_options(options) {
    if (!(m_options.history.value() >= 0) || !std::isfinite(m_options.history.value())) {
        m_options.history = core::Seconds(0);
    }
    m_options.max_requests = std::max<std::size_t>(m_options.max_requests, 1);
}

std::optional<core::Seconds> RequestEnergyLedger::horizon() const {
    if (!m_newest_end) return std::nullopt;
    return core::Seconds(*m_newest_end - m_options.history.value());
}

std::size_t RequestEnergyLedger::intervals_held() const {
    std::size_t n = 0;
    for (const auto& [gpu, g] : m_gpus) n += g.intervals.size();
    return n;
}

core::Result<void> RequestEnergyLedger::add_request(RequestRecord record) {
    const double start = record.start.value();
    const double end = record.end.value();
    if (record.id.empty()) return core::fail("request energy: request without an id");
    if (!std::isfinite(start) || !std::isfinite(end)) {
        return core::fail(
            fmt::format("request energy: request '{}': start and end must be finite", record.id));
    }
    if (end < start) {
        return core::fail(
            fmt::format("request energy: request '{}': end {} is before start {}", record.id, end, start));
    }
    if (m_keys.contains(record.id)) {
        return core::fail(fmt::format("request energy: request '{}' was already posted", record.id));
    }
    const std::optional<core::Seconds> h = horizon();
    if (h && end <= h->value()) {
        ++m_totals.late_requests;
        return core::fail(fmt::format(
            "request energy: request '{}' ended {:.3f} s before the history window ({} s) began: its energy "
            "is already final (idle or other requests); post requests sooner or raise the history window",
            record.id, h->value() - end, m_options.history.value()));
    }
    evict(1);
    if (m_requests.size() >= m_options.max_requests) {
        return core::fail(
            fmt::format("request energy: {} requests held and all still open to energy: raise max_requests",
                        m_requests.size()));
    }

    const Key key = m_next_key++;
    Request& r = m_requests[key];
    r.energy.id = record.id;
    r.energy.model = std::move(record.model);
    r.energy.gpu = record.gpu;
    r.energy.start = record.start;
    r.energy.end = record.end;
    r.energy.input_tokens = record.input_tokens;
    r.energy.output_tokens = record.output_tokens;
    r.energy.partial = h && start < h->value();
    m_keys.emplace(std::move(record.id), key);
    m_order.push_back(key);
    ModelEnergy& model = m_models[r.energy.model];
    model.model = r.energy.model;
    ++model.requests;
    model.input_tokens += r.energy.input_tokens;
    model.output_tokens += r.energy.output_tokens;
    ++m_totals.requests;
    if (r.energy.partial) ++m_totals.partial_requests;

    // Re-split every held interval of its GPU that it overlaps (or, for an instant request, contains).
    Gpu& gpu = m_gpus[r.energy.gpu];
    gpu.open_requests.push_back(key);
    for (auto& [interval_start, interval] : gpu.intervals) {
        if (interval_start > end) break;
        const bool touches = start == end ? (start >= interval.start && start < interval.end)
                                          : overlap(start, end, interval.start, interval.end) > 0.0;
        if (!touches) continue;
        unsplit(interval);
        split(r.energy.gpu, interval);
    }
    return {};
}

core::Result<void> RequestEnergyLedger::add_energy(const GpuEnergyInterval& in) {
    const double start = in.start.value();
    const double end = in.end.value();
    const double joules = in.energy.value();
    if (!std::isfinite(start) || !std::isfinite(end) || !(end > start)) {
        return core::fail(fmt::format("request energy: GPU {} interval [{}, {}): end must be after start",
                                      in.gpu, start, end));
    }
    if (!std::isfinite(joules) || joules < 0 || joules > kMaxJoules) {
        return core::fail(
            fmt::format("request energy: GPU {} interval [{}, {}): energy {} J is not in [0, 1e9]", in.gpu,
                        start, end, joules));
    }
    if (const auto h = horizon(); h && start < h->value()) {
        return core::fail(fmt::format(
            "request energy: GPU {} interval [{}, {}) begins before the history window (from {}): too old",
            in.gpu, start, end, h->value()));
    }
    Gpu& gpu = m_gpus[in.gpu];
    // Held intervals never overlap: check the neighbours on both sides.
    auto next = gpu.intervals.lower_bound(start);
    if (next != gpu.intervals.end() && next->second.start < end) {
        return core::fail(
            fmt::format("request energy: GPU {} interval [{}, {}) overlaps [{}, {}) already held", in.gpu,
                        start, end, next->second.start, next->second.end));
    }
    if (next != gpu.intervals.begin()) {
        const Interval& before = std::prev(next)->second;
        if (before.end > start) {
            return core::fail(
                fmt::format("request energy: GPU {} interval [{}, {}) overlaps [{}, {}) already held", in.gpu,
                            start, end, before.start, before.end));
        }
    }
    Interval& interval = gpu.intervals.emplace_hint(next, start, Interval{})->second;
    interval.start = start;
    interval.end = end;
    interval.measured_uj = std::llround(joules * 1e6);
    m_totals.measured_uj += interval.measured_uj;
    ++m_totals.intervals;
    split(in.gpu, interval);

    m_newest_end = std::max(m_newest_end.value_or(end), end);
    trim();
    return {};
}

void RequestEnergyLedger::split(unsigned gpu_index, Interval& interval) {
    Gpu& gpu = m_gpus[gpu_index];
    const double duration = interval.end - interval.start;
    std::vector<Key> keys;
    std::vector<double> tokens;
    std::vector<double> seconds;
    std::vector<std::pair<double, double>> spans;
    for (const Key key : gpu.open_requests) {
        const RequestEnergy& r = m_requests.at(key).energy;
        const double rs = r.start.value();
        const double re = r.end.value();
        const double lifetime = re - rs;
        const auto all_tokens = static_cast<double>(r.tokens());
        if (lifetime == 0.0) {
            if (rs < interval.start || rs >= interval.end) continue;
            keys.push_back(key);
            tokens.push_back(all_tokens);
            seconds.push_back(0.0);
            continue;
        }
        const double o = overlap(rs, re, interval.start, interval.end);
        if (o <= 0.0) continue;
        keys.push_back(key);
        tokens.push_back(all_tokens * (o / lifetime));
        seconds.push_back(o);
        spans.emplace_back(std::max(rs, interval.start), std::min(re, interval.end));
    }
    double token_sum = 0.0;
    for (const double t : tokens) token_sum += t;
    const std::vector<double>& weights = token_sum > 0.0 ? tokens : seconds;
    const double busy = std::min(union_length(spans), duration);

    // Idle is the share of the interval no request covered, at the interval's mean power.
    const DomainInterval domain{core::Joules(static_cast<double>(interval.measured_uj) * 1e-6),
                                core::Seconds(duration - busy),
                                core::Watts(static_cast<double>(interval.measured_uj) * 1e-6 / duration)};
    auto split = attribute_energy(domain, weights);
    interval.shares.clear();
    interval.covered.clear();
    // Inputs were checked on the way in, so a failed split is not reachable; it would leave all idle.
    std::int64_t attributed = 0;
    if (split) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            interval.shares.emplace_back(keys[i], split->consumer_uj[i]);
            interval.covered.emplace_back(keys[i], seconds[i]);
            attributed += split->consumer_uj[i];
        }
    }
    // The remainder, so that idle + shares is the interval's own integer energy by construction.
    interval.idle_uj = interval.measured_uj - attributed;
    apply(interval, +1);
}

void RequestEnergyLedger::unsplit(Interval& interval) {
    apply(interval, -1);
    interval.shares.clear();
    interval.covered.clear();
    interval.idle_uj = 0;
}

void RequestEnergyLedger::apply(Interval& interval, int sign) {
    m_totals.idle_uj += sign * interval.idle_uj;
    for (const auto& [key, uj] : interval.shares) {
        Request& r = m_requests.at(key);
        r.energy.energy_uj += sign * uj;
        m_models[r.energy.model].energy_uj += sign * uj;
        m_totals.attributed_uj += sign * uj;
    }
    for (const auto& [key, s] : interval.covered) m_requests.at(key).energy.covered_s += sign * s;
}

void RequestEnergyLedger::trim() {
    const double h = horizon()->value();
    for (auto& [index, gpu] : m_gpus) {
        while (!gpu.intervals.empty() && gpu.intervals.begin()->second.start < h) {
            gpu.intervals.erase(gpu.intervals.begin());
        }
        // A request that ended at or before the horizon overlaps no held interval and no future one.
        std::erase_if(gpu.open_requests, [&](Key key) {
            Request& r = m_requests.at(key);
            if (r.energy.end.value() > h) return false;
            r.open = false;
            return true;
        });
    }
    evict(0);
}

void RequestEnergyLedger::evict(std::size_t room) {
    while (!m_order.empty() && m_requests.size() + room > m_options.max_requests) {
        const Key key = m_order.front();
        auto it = m_requests.find(key);
        if (it->second.open) break;  // the oldest can still receive energy: keep it
        m_keys.erase(it->second.energy.id);
        m_requests.erase(it);
        m_order.pop_front();
        ++m_totals.evicted_requests;
    }
}

std::optional<RequestEnergy> RequestEnergyLedger::request(std::string_view id) const {
    const auto k = m_keys.find(std::string(id));
    if (k == m_keys.end()) return std::nullopt;
    return m_requests.at(k->second).energy;
}

std::vector<ModelEnergy> RequestEnergyLedger::models() const {
    std::vector<ModelEnergy> out;
    out.reserve(m_models.size());
    for (const auto& [name, model] : m_models) out.push_back(model);
    return out;
}

}  // namespace joulepilot::learn
