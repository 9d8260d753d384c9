#include "decide/threshold_policy.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "decide/knob_queries.hpp"

namespace joulepilot::decide {
namespace {

// How the chosen knob is named, shown and scaled: knob values are SI (Hz, W), people read MHz and W.
struct KnobTerms {
    const char* leaf;
    const char* label;
    const char* unit;
    double si_per_unit;
};

constexpr KnobTerms kClockTerms{"sm_clock_cap_hz", "clock cap", "MHz", 1e6};
constexpr KnobTerms kPowerTerms{"power_limit_watts", "power limit", "W", 1.0};

// What the last `count` observations say about one GPU's utilisation.
struct UtilizationStats {
    std::size_t seen = 0;   // observations looked at (fewer than count early in a run)
    std::size_t valid = 0;  // of those, with a finite value
    std::size_t fresh = 0;  // of those, taken after the policy's last change to this GPU
    double mean = 0;        // of the valid values
};

UtilizationStats utilization_over(const learn::ObservationWindow& window, std::string_view signal,
                                  std::size_t count, std::optional<core::Seconds> since) {
    UtilizationStats stats;
    if (window.empty()) return stats;
    const auto index = window.latest().catalog().find(signal);
    const std::size_t first = window.size() > count ? window.size() - count : 0;
    double sum = 0;
    for (std::size_t i = first; i < window.size(); ++i) {
        const sense::Observation& observation = window.at(i);
        ++stats.seen;
        if (!since || observation.time > *since) ++stats.fresh;
        if (!index) continue;
        const auto v = observation.get(*index);
        if (v && std::isfinite(*v)) {
            sum += *v;
            ++stats.valid;
        }
    }
    if (stats.valid > 0) stats.mean = sum / static_cast<double>(stats.valid);
    return stats;
}

// The smallest value of the domain at or above `value` (a step down must never land under the floor).
double lowest_allowed_at_least(const act::KnobDomain& domain, double value) {
    if (!domain.values.empty()) {
        std::optional<double> best;
        for (double v : domain.values) {
            if (v >= value && (!best || v < *best)) best = v;
        }
        return best ? *best : highest_value(domain);
    }
    if (domain.step > 0) {
        const double steps = std::ceil((value - domain.min) / domain.step - 1e-9);
        return std::min(domain.min + std::max(steps, 0.0) * domain.step, highest_value(domain));
    }
    return std::clamp(value, domain.min, domain.max);
}

}  // namespace

ThresholdConfig ThresholdConfig::from(const core::ConfigSection& section) {
    ThresholdConfig config;
    config.knob = section.string("knob", "clock", {"clock", "power"}) == "power" ? Knob::power : Knob::clock;
    config.samples = static_cast<std::size_t>(section.integer("samples", 10, 1, 3600));
    config.low = section.number("low", config.low, 0.0, 1.0);
    config.high = section.number("high", config.high, 0.0, 1.0);
    if (config.low >= config.high) {
        throw core::ConfigError(fmt::format("config: key '{}' ({}) must be below key '{}' ({})",
                                            section.path_of("low"), config.low, section.path_of("high"),
                                            config.high));
    }
    // Bounds wide enough for any data-centre GPU; the knob's own domain clamps further at run time.
    config.step_mhz = section.number("step_mhz", config.step_mhz, 1, 2000);
    config.min_clock_mhz = section.number("min_clock_mhz", config.min_clock_mhz, 100, 5000);
    config.step_watts = section.number("step_watts", config.step_watts, 1, 1000);
    config.min_power_watts = section.number("min_power_watts", config.min_power_watts, 10, 2000);
    config.raise =
        section.string("raise", "max", {"max", "step"}) == "step" ? Raise::one_step : Raise::to_max;
    return config;
}

Decision ThresholdPolicy::decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                                 const Constraints& /*constraints*/) {
    Decision decision;
    const learn::ObservationWindow& window = state.window;
    const bool clock = m_config.knob == ThresholdConfig::Knob::clock;
    const KnobTerms& terms = clock ? kClockTerms : kPowerTerms;
    const double floor_si = clock ? m_config.min_clock_mhz * 1e6 : m_config.min_power_watts;
    const double step_si = clock ? m_config.step_mhz * 1e6 : m_config.step_watts;
    const std::size_t n = m_config.samples;

    const std::vector<int> gpus = knob_indices(knobs, "gpu", terms.leaf);
    if (gpus.empty()) {
        decision.rationale = fmt::format("threshold: no gpu.<i>.{} knobs; nothing to do", terms.leaf);
        return decision;
    }
    if (window.empty()) {
        decision.rationale = "threshold: no observations yet; no change";
        return decision;
    }

    std::vector<std::string> lines;
    std::size_t steady = 0;
    std::size_t at_floor = 0;
    std::size_t at_ceiling = 0;
    std::size_t waiting = 0;
    const auto shown = [&](double si) { return si / terms.si_per_unit; };

    for (const int gpu : gpus) {
        const std::string knob_name = fmt::format("gpu.{}.{}", gpu, terms.leaf);
        const act::Knob& knob = *knobs.get(knob_name);
        const auto last = m_last_change.find(gpu);
        const std::optional<core::Seconds> since =
            last == m_last_change.end() ? std::nullopt : std::optional<core::Seconds>(last->second);
        const UtilizationStats stats =
            utilization_over(window, fmt::format("gpu.{}.utilization_ratio", gpu), n, since);

        if (stats.valid == 0) {
            lines.push_back(
                fmt::format("gpu {}: utilization missing in the last {} samples: holding {} {:.0f} {}", gpu,
                            stats.seen, terms.label, shown(knob.current), terms.unit));
            continue;
        }

        std::optional<double> target;
        std::string why;
        if (stats.mean < m_config.low) {
            if (stats.valid < stats.seen) {
                // Conservative: a sample nobody could read is not evidence of an idle GPU.
                lines.push_back(
                    fmt::format("gpu {}: utilization {:.2f} < {:.2f} but missing in {} of the last {} "
                                "samples: not stepping down",
                                gpu, stats.mean, m_config.low, stats.seen - stats.valid, stats.seen));
                continue;
            }
            if (stats.seen < n || stats.fresh < n) {
                ++waiting;
                continue;
            }
            const double lowest = std::max(floor_si, lowest_value(knob.domain));
            if (knob.current <= lowest) {
                ++at_floor;
                continue;
            }
            double down = knob.domain.clamp(std::max(knob.current - step_si, lowest));
            if (down < lowest) down = lowest_allowed_at_least(knob.domain, lowest);
            if (down >= knob.current) {
                ++at_floor;  // the step is finer than the knob's grid allows from here
                continue;
            }
            target = down;
            why = fmt::format("utilization {:.2f} < {:.2f} for {} samples", stats.mean, m_config.low, n);
        } else if (stats.mean > m_config.high) {
            const double highest = highest_value(knob.domain);
            const double up = m_config.raise == ThresholdConfig::Raise::to_max
                                  ? highest
                                  : knob.domain.clamp(std::min(knob.current + step_si, highest));
            if (up <= knob.current) {
                ++at_ceiling;
                continue;
            }
            target = up;
            why = fmt::format("utilization {:.2f} > {:.2f} over {} samples", stats.mean, m_config.high,
                              stats.valid);
        } else {
            ++steady;
            continue;
        }

        if (!knob.domain.contains(*target) || *target == knob.current) continue;
        decision.settings.push_back({knob_name, *target});
        m_last_change[gpu] = window.latest().time;
        lines.push_back(fmt::format("gpu {}: {}: {} {:.0f} -> {:.0f} {}", gpu, why, terms.label,
                                    shown(knob.current), shown(*target), terms.unit));
    }

    std::vector<std::string> unchanged;
    if (steady > 0)
        unchanged.push_back(fmt::format("{} between {:.2f} and {:.2f}", steady, m_config.low, m_config.high));
    if (at_floor > 0) unchanged.push_back(fmt::format("{} low but at the floor", at_floor));
    if (at_ceiling > 0) unchanged.push_back(fmt::format("{} busy but at the maximum", at_ceiling));
    if (waiting > 0) unchanged.push_back(fmt::format("{} low for fewer than {} samples", waiting, n));
    if (!unchanged.empty()) {
        lines.push_back(fmt::format("unchanged GPUs: {}", fmt::join(unchanged, ", ")));
    }
    decision.rationale = fmt::format("threshold: {}", fmt::join(lines, "; "));
    return decision;
}

}  // namespace joulepilot::decide
