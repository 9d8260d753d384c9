#include "daemon/request_store.hpp"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "ledger/ledger.hpp"

namespace joulepilot::daemon {

namespace {

// A request that ran on several GPUs is attributed per GPU under "<id>@gpu<g>" and summed back.
std::string part_id(const serve::RequestRecord& r, int gpu) {
    return r.gpus.size() <= 1 ? r.id : fmt::format("{}@gpu{}", r.id, gpu);
}

bool same_request(const serve::RequestRecord& a, const serve::RequestRecord& b) {
    return a.id == b.id && a.start == b.start && a.end == b.end && a.input_tokens == b.input_tokens &&
           a.output_tokens == b.output_tokens && a.model == b.model && a.gpus == b.gpus;
}

// "gpu.<i>.energy_joules_total" -> i
std::optional<unsigned> gpu_of_energy_signal(const std::string& name) {
    unsigned gpu = 0;
    int consumed = 0;
    if (std::sscanf(name.c_str(), "gpu.%u.energy_joules_total%n", &gpu, &consumed) == 1 &&
        static_cast<std::size_t>(consumed) == name.size()) {
        return gpu;
    }
    return std::nullopt;
}

}  // namespace

RequestEnergyStore::RequestEnergyStore(learn::RequestEnergyOptions options, double grams_per_joule,
                                       ledger::Ledger* ledger)
    : m_attribution(options), m_grams_per_joule(grams_per_joule), m_ledger(ledger) {}

void RequestEnergyStore::observe(const sense::Observation& observation) {
    std::lock_guard lock(m_mutex);
    if (!m_signals_found) {
        const auto& catalog = observation.catalog();
        for (std::size_t i = 0; i < catalog.size(); ++i) {
            if (auto gpu = gpu_of_energy_signal(catalog.info(i).name)) m_energy_signal[*gpu] = i;
        }
        m_signals_found = true;
    }
    const double t = observation.time.value();
    for (const auto& [gpu, index] : m_energy_signal) {
        const auto counter = observation.get(index);
        if (!counter) {
            m_last.erase(gpu);  // a gap: the next interval starts at the next reading
            continue;
        }
        const auto last = m_last.find(gpu);
        if (last != m_last.end() && t > last->second.first && *counter >= last->second.second) {
            const learn::GpuEnergyInterval interval{gpu, core::Seconds(last->second.first), core::Seconds(t),
                                                    core::Joules(*counter - last->second.second)};
            (void)m_attribution.add_energy(interval);  // a rejected interval (overlap after a restart) is skipped
        }
        m_last[gpu] = {t, *counter};
    }
    persist_finished();
}

void RequestEnergyStore::persist_finished() {
    if (m_ledger == nullptr) return;
    for (auto& [id, posted] : m_posted) {
        if (posted.persisted) continue;
        double joules = 0;
        bool complete = true;
        for (int gpu : posted.record.gpus) {
            const auto part = m_attribution.request(part_id(posted.record, gpu));
            if (!part || !part->complete()) {
                complete = false;
                break;
            }
            joules += part->joules().value();
        }
        if (!complete) continue;
        ledger::RequestEnergyRecord record;
        record.id = id;
        record.model = posted.record.model;
        record.gpu = fmt::format("{}", fmt::join(posted.record.gpus, ","));
        record.start_ms = ledger::to_ms(posted.record.start);
        record.end_ms = ledger::to_ms(posted.record.end);
        record.input_tokens = static_cast<std::int64_t>(posted.record.input_tokens);
        record.output_tokens = static_cast<std::int64_t>(posted.record.output_tokens);
        record.joules = core::Joules(joules);
        record.grams_co2 = joules * m_grams_per_joule;
        if (m_ledger->append(std::move(record))) posted.persisted = true;
    }
}

serve::ApiResult<serve::RequestsAccepted> RequestEnergyStore::add(const std::vector<serve::RequestRecord>& records) {
    std::lock_guard lock(m_mutex);
    serve::RequestsAccepted accepted;
    for (const auto& r : records) {
        if (const auto it = m_posted.find(r.id); it != m_posted.end()) {
            if (same_request(it->second.record, r)) {
                ++accepted.duplicates;
                continue;
            }
            return tl::unexpected(serve::ApiError{serve::ErrorCode::conflict,
                                                  fmt::format("request '{}' was already posted with other contents; "
                                                              "ids must be unique",
                                                              r.id),
                                                  {}});
        }
        serve::RequestRecord record = r;
        if (record.gpus.empty()) record.gpus = {0};
        for (int gpu : record.gpus) {
            learn::RequestRecord part{part_id(record, gpu), record.start, record.end, record.input_tokens,
                                      record.output_tokens, record.model, static_cast<unsigned>(gpu)};
            if (auto added = m_attribution.add_request(std::move(part)); !added) {
                return tl::unexpected(serve::ApiError{serve::ErrorCode::validation_failed,
                                                      fmt::format("request '{}': {}", r.id, added.error().message),
                                                      {}});
            }
        }
        m_posted[record.id] = {record, false};
        ++accepted.accepted;
    }
    return accepted;
}

serve::ApiResult<serve::RequestEnergy> RequestEnergyStore::get(const std::string& id) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_posted.find(id);
    if (it == m_posted.end()) {
        return tl::unexpected(serve::ApiError{
            serve::ErrorCode::not_found,
            fmt::format("no request '{}' (post it to /v1/requests first; old requests are evicted)", id),
            {}});
    }
    serve::RequestEnergy out;
    out.request = it->second.record;
    double joules = 0;
    bool complete = true;
    bool any = false;
    for (int gpu : out.request.gpus) {
        const auto part = m_attribution.request(part_id(out.request, gpu));
        if (!part) continue;
        any = any || part->covered_s > 0;
        complete = complete && part->complete();
        joules += part->joules().value();
    }
    if (any) {
        out.status = complete ? "attributed" : "pending";
        out.energy_joules = joules;
        if (out.request.output_tokens > 0) out.joules_per_token = joules / static_cast<double>(out.request.output_tokens);
        out.grams_co2 = joules * m_grams_per_joule;
    }
    return out;
}

serve::ApiResult<std::vector<serve::ModelEnergy>> RequestEnergyStore::per_model(const serve::ModelQuery& query) const {
    std::lock_guard lock(m_mutex);
    std::vector<serve::ModelEnergy> out;
    for (const auto& m : m_attribution.models()) {
        if (query.model && *query.model != m.model) continue;
        serve::ModelEnergy e;
        e.model = m.model;
        e.requests = m.requests;
        e.input_tokens = m.input_tokens;
        e.output_tokens = m.output_tokens;
        e.energy_joules = m.joules().value();
        if (m.output_tokens > 0) e.joules_per_token = e.energy_joules / static_cast<double>(m.output_tokens);
        if (m.requests > 0) e.joules_per_request = e.energy_joules / static_cast<double>(m.requests);
        e.grams_co2 = e.energy_joules * m_grams_per_joule;
        out.push_back(std::move(e));
    }
    return out;
}

learn::RequestEnergyTotals RequestEnergyStore::totals() const {
    std::lock_guard lock(m_mutex);
    return m_attribution.totals();
}

}  // namespace joulepilot::daemon
