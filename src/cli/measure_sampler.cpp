// The sampling engine of `joulepilot measure`: domains and per-domain tracks (see measure_sampler.hpp).
#include "cli/measure_sampler.hpp"

#include <time.h>

#include <algorithm>
#include <utility>

#include "sense/energy_domain.hpp"

namespace joulepilot::cli {

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A power meter without an energy counter: a measured W signal that is not a limit or setting.
// "gpu.0.power_watts" -> "gpu.0", "hwmon.acpi_power_meter.power1_average_watts" ->
// "hwmon.acpi_power_meter.power1_average". Derived power (a counter's rate) is left out: its counter is
// the better source.
std::optional<std::string> power_domain_name(const sense::SignalInfo& info) {
    const std::string_view name = info.name;
    if (info.unit != "W" || info.provenance != sense::Provenance::measured) return std::nullopt;
    if (name.find("limit") != std::string_view::npos || !name.ends_with("_watts")) return std::nullopt;
    if (name.ends_with(".power_watts")) return std::string(name.substr(0, name.size() - 12));
    return std::string(name.substr(0, name.size() - 6));
}

// The domain an energy counter measures: sense::energy_domain_name's, and hwmon's energy<N> channels,
// which name their counters "hwmon.amd_energy.energy1_joules_total" (-> "hwmon.amd_energy.energy1").
std::optional<std::string> counter_domain_name(const sense::SignalInfo& info) {
    if (auto name = sense::energy_domain_name(info)) return name;
    constexpr std::string_view kSuffix = "_joules_total";
    const std::string_view name = info.name;
    if (info.unit != "J" || !name.starts_with("hwmon.") || !name.ends_with(kSuffix)) return std::nullopt;
    return std::string(name.substr(0, name.size() - kSuffix.size()));
}

// Whether a domain belongs in the total: each package (or die), each DRAM, each GPU, the CPU estimate.
// Never core/uncore (inside their package) nor psys (covers packages and DRAM).
bool adds_to_total(std::string_view name) {
    if (name.starts_with("gpu.")) return name.find('.', 4) == std::string_view::npos;
    if (name == "cpu.estimated") return true;
    return name.starts_with("cpu.") && (name.ends_with(".package") || name.ends_with(".dram"));
}

std::vector<Domain> find_domains(const sense::SignalCatalog& catalog) {
    std::vector<Domain> domains;
    for (std::size_t i = 0; i < catalog.size(); ++i) {
        const sense::SignalInfo& info = catalog.info(i);
        if (auto name = counter_domain_name(info)) {
            domains.push_back({std::move(*name), DomainSource::counter, i, info.provenance, info.name, {}});
        }
    }
    const std::size_t counters = domains.size();
    for (std::size_t i = 0; i < catalog.size(); ++i) {
        const sense::SignalInfo& info = catalog.info(i);
        auto name = power_domain_name(info);
        if (!name) continue;
        const bool has_counter = std::any_of(domains.begin(), domains.begin() + static_cast<long>(counters),
                                             [&](const Domain& d) { return d.name == *name; });
        if (!has_counter) {
            domains.push_back(
                {std::move(*name), DomainSource::power, i, sense::Provenance::derived, info.name, {}});
        }
    }
    Domain total{kTotalDomain, DomainSource::sum, 0, sense::Provenance::measured, "", {}};
    for (std::size_t d = 0; d < domains.size(); ++d) {
        if (!adds_to_total(domains[d].name)) continue;
        total.parts.push_back(d);
        // The weakest provenance of its parts: a sum with an estimate in it is an estimate.
        total.provenance = std::max(total.provenance, domains[d].provenance);
    }
    if (total.parts.size() >= 2) domains.push_back(std::move(total));
    return domains;
}

std::string total_description(const std::vector<Domain>& domains, const Domain& total) {
    std::string parts;
    for (std::size_t p : total.parts) parts += (parts.empty() ? "" : " + ") + domains[p].name;
    return parts;
}

void DomainTrack::update(std::optional<double> value, double t, DomainSource source, double min_peak_dt) {
    m_valid_now = value.has_value();
    if (!value) {
        ++m_missing;
        return;
    }
    if (!m_seen) {
        m_seen = true;
        m_first_t = t;
        m_first_value = *value;
        m_anchor_t = t;
        m_anchor_j = 0.0;
    } else if (source == DomainSource::power) {
        m_cumulative_j += 0.5 * (*value + m_last_value) * (t - m_last_t);
    } else {
        m_cumulative_j = *value - m_first_value;
    }
    if (source == DomainSource::power) {
        m_peak_w = std::max(m_peak_w.value_or(*value), *value);
    } else if (t - m_anchor_t >= min_peak_dt) {
        // Peak of the mean power over spans of at least half an interval: a shorter span (the last
        // read right after the command ends) would divide a counter's update granularity by ~0.
        const double w = (m_cumulative_j - m_anchor_j) / (t - m_anchor_t);
        m_peak_w = std::max(m_peak_w.value_or(w), w);
        m_anchor_t = t;
        m_anchor_j = m_cumulative_j;
    }
    m_last_t = t;
    m_last_value = *value;
    ++m_readings;
}

void IntervalSampler::sample(SteadyTime start, bool force) {
    const double cpu_before = thread_cpu_seconds();
    m_node.read(m_observation, force);
    const double t = seconds_between(start, std::chrono::steady_clock::now());
    for (std::size_t d = 0; d < m_domains.size(); ++d) {
        const Domain& domain = m_domains[d];
        std::optional<double> value;
        if (domain.source == DomainSource::sum) {
            // Only when every part was read now (a sum of fresh and older values would put a GPU's
            // second of energy into one 100 ms span), and only with every value there: a sum with a
            // hole is not the total.
            m_fresh[d] = std::all_of(domain.parts.begin(), domain.parts.end(),
                                     [this](std::size_t p) { return m_fresh[p]; });
            if (!m_fresh[d]) continue;
            double sum = 0.0;
            bool all = true;
            for (std::size_t p : domain.parts) {
                all = all && m_tracks[p].valid_now();
                sum += m_tracks[p].cumulative_j();
            }
            if (all) value = sum;
        } else {
            // A sensor that was not due keeps its previous sample: not a new reading.
            m_fresh[d] = m_node.fresh(domain.signal);
            if (!m_fresh[d]) continue;
            value = m_observation.get(domain.signal);
        }
        m_tracks[d].update(value, t, domain.source, m_min_peak_dt);
    }
    if (m_samples == 0) {
        for (DomainTrack& track : m_tracks) track.mark_start();
    }
    m_end_t = t;
    ++m_samples;
    if (m_hook) m_hook(*this, t);
    m_cpu_s += thread_cpu_seconds() - cpu_before;
}

DomainResult finish_domain(const DomainTrack& track, double duration_s) {
    DomainResult r;
    r.energy_j = track.energy_j();
    r.complete = track.complete();
    r.reads = track.reads();
    r.missing_reads = track.missing();
    if (r.energy_j) {
        const double span = r.complete ? duration_s : track.covered_s();
        if (span > 0) r.average_w = *r.energy_j / span;
    }
    r.peak_w = track.peak_w();
    // The peak comes from spans of at least half an interval, so the short span at the end (or a command
    // shorter than half an interval) is in the mean but not in a peak: the mean is then a lower bound.
    if (r.average_w && (!r.peak_w || *r.peak_w < *r.average_w)) r.peak_w = r.average_w;
    return r;
}

}  // namespace joulepilot::cli
