#pragma once
// An Observation is one tick's batch of samples: every signal the sensors discovered, in catalog
// order, each either a value in SI units or *missing* (never 0 for "unknown"). The catalog of signals is
// built once at discovery and shared by every observation of a run. Observations are values: copy
// them freely; the catalog is immutable after discovery and so safe to share across threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/units.hpp"

namespace joulepilot::sense {

// Where a value comes from: read from a counter or meter, computed from measured values (a rate from a
// counter), or modelled (labelled `estimated` everywhere it is shown).
enum class Provenance : std::uint8_t { measured, derived, estimated };
std::string_view to_string(Provenance p);

// Signal names are dotted paths with the SI unit last: "gpu.3.power_watts", "fleet.queue_requests".
struct SignalInfo {
    std::string name;
    std::string unit;  // "W", "J", "s", "Hz", "ratio", "requests", ...
    Provenance provenance = Provenance::measured;
    std::string description;
};

struct Sample {
    double value = 0.0;
    bool valid = false;  // false: missing (not read, unreadable, unsupported)
};

class SignalCatalog {
public:
    std::size_t add(SignalInfo info);
    [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const;
    [[nodiscard]] const SignalInfo& info(std::size_t index) const { return m_signals[index]; }
    [[nodiscard]] std::size_t size() const { return m_signals.size(); }

private:
    std::vector<SignalInfo> m_signals;
    std::unordered_map<std::string, std::size_t> m_index;
};

class Observation {
public:
    Observation() = default;
    explicit Observation(std::shared_ptr<const SignalCatalog> catalog)
        : m_catalog(std::move(catalog)), m_samples(m_catalog ? m_catalog->size() : 0) {}

    core::Seconds time{0};

    [[nodiscard]] const SignalCatalog& catalog() const { return *m_catalog; }
    [[nodiscard]] std::vector<Sample>& samples() { return m_samples; }
    [[nodiscard]] const std::vector<Sample>& samples() const { return m_samples; }
    [[nodiscard]] std::optional<double> get(std::size_t index) const {
        const Sample& s = m_samples[index];
        return s.valid ? std::optional<double>(s.value) : std::nullopt;
    }
    [[nodiscard]] std::optional<double> get(std::string_view name) const;

private:
    std::shared_ptr<const SignalCatalog> m_catalog;
    std::vector<Sample> m_samples;
};

}  // namespace joulepilot::sense
