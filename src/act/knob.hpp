#pragma once
// Knobs are the controls joulepilot can turn: a name, a domain (a range with a step, or a set of
// values), the default and the current value. Names are dotted like signals, SI unit last:
// "gpu.0.sm_clock_cap_hz", "gpu.0.power_limit_watts", "replica.0.batch_cap", "replica.0.precision"
// (0 = bf16, 1 = fp8), "replica.0.active" (0 = parked, 1 = serving).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace joulepilot::act {

struct KnobDomain {
    double min = 0;
    double max = 0;
    double step = 0;             // 0: continuous
    std::vector<double> values;  // non-empty: the knob takes exactly one of these

    // The nearest value inside the domain (snapped to the step or to the nearest allowed value).
    [[nodiscard]] double clamp(double value) const;
    [[nodiscard]] bool contains(double value) const;
};

struct Knob {
    std::string name;
    std::string unit;
    KnobDomain domain;
    double default_value = 0;
    double current = 0;
};

struct KnobSetting {
    std::string knob;
    double value = 0;
};

class KnobSpace {
public:
    void add(Knob knob);
    [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const;
    [[nodiscard]] const Knob& at(std::size_t index) const { return m_knobs[index]; }
    [[nodiscard]] Knob& at(std::size_t index) { return m_knobs[index]; }
    [[nodiscard]] const Knob* get(std::string_view name) const;
    [[nodiscard]] const std::vector<Knob>& knobs() const { return m_knobs; }
    [[nodiscard]] std::size_t size() const { return m_knobs.size(); }

private:
    std::vector<Knob> m_knobs;
    std::unordered_map<std::string, std::size_t> m_index;
};

}  // namespace joulepilot::act
