#pragma once
// A test actuator holding knob values in memory: counts calls and can be told to fail.

#include <string>
#include <vector>

#include "act/actuator.hpp"

namespace joulepilot::testing {

class FakeActuator : public act::Actuator {
public:
    explicit FakeActuator(std::vector<act::Knob> knobs) : m_knobs(std::move(knobs)) {
        for (auto& k : m_knobs) m_values.push_back(k.current);
    }
    [[nodiscard]] std::string name() const override { return "fake"; }
    std::vector<act::Knob> discover() override { return m_knobs; }
    [[nodiscard]] std::vector<double> current() const override { return m_values; }
    core::Result<void> save() override {
        ++saves;
        if (fail_save) return core::fail("fake: save refused");
        m_saved = m_values;
        return {};
    }
    core::Result<void> apply(std::span<const act::KnobSetting> settings) override {
        ++applies;
        if (fail_apply) return core::fail("fake: write refused");
        for (const auto& s : settings) {
            for (std::size_t i = 0; i < m_knobs.size(); ++i) {
                if (m_knobs[i].name == s.knob) m_values[i] = s.value;
            }
        }
        return {};
    }
    core::Result<void> restore() override {
        ++restores;
        m_values = m_saved;
        return {};
    }
    void forget_changes() override { ++forgets; }
    [[nodiscard]] double value(std::size_t i) const { return m_values[i]; }

    int saves = 0;
    int applies = 0;
    int restores = 0;
    int forgets = 0;
    bool fail_save = false;
    bool fail_apply = false;

private:
    std::vector<act::Knob> m_knobs;
    std::vector<double> m_values;
    std::vector<double> m_saved;
};

inline std::vector<act::Knob> two_test_knobs() {
    return {
        act::Knob{"gpu.0.power_limit_watts", "W", act::KnobDomain{200, 700, 10, {}}, 700, 700},
        act::Knob{"replica.0.batch_cap", "sequences", act::KnobDomain{8, 512, 0, {8, 64, 256, 512}}, 256, 256},
    };
}

}  // namespace joulepilot::testing
