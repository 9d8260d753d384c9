#include "cli/node_actuators.hpp"

#include "act/cpufreq/cpufreq_actuator.hpp"
#include "act/nvml/nvml_actuator.hpp"
#include "act/rapl/rapl_power_limit_actuator.hpp"

namespace joulepilot::cli {

namespace {

act::KnobRule rate_rule(std::string pattern, core::Seconds min_interval) {
    act::KnobRule rule;
    rule.pattern = std::move(pattern);
    rule.allowed = false;  // least privilege: the operator allows knobs under [shield.knobs]
    rule.min_interval = min_interval;
    return rule;
}

}  // namespace

NodeActuators::NodeActuators(const core::ConfigSection& act, const core::RootedFs& fs, const NodeSensorOptions& sensors) {
    auto nvml = act::read_nvml_actuator_config(act.section("nvml"));
    if (nvml.enable) {
        if (nvml.options.library_path.empty()) nvml.options.library_path = sensors.nvml_library;
        auto actuator = std::make_unique<act::NvmlActuator>(nvml.options);
        actuator->discover();
        for (const auto& u : actuator->unavailable()) m_unavailable.push_back(u);
        m_rules.push_back(rate_rule("gpu.*", nvml.min_interval));
        m_actuators.push_back(std::move(actuator));
    }
    auto rapl = act::read_rapl_actuator_config(act.section("rapl"));
    if (rapl.enable) {
        auto actuator = std::make_unique<act::RaplPowerLimitActuator>(fs, rapl.options);
        actuator->discover();
        for (const auto& u : actuator->unavailable()) m_unavailable.push_back(u);
        m_rules.push_back(rate_rule("cpu.*power_limit_watts", rapl.min_interval));
        m_rules.push_back(rate_rule("node.psys_power_limit_watts", rapl.min_interval));
        m_actuators.push_back(std::move(actuator));
    }
    auto cpufreq = act::read_cpufreq_actuator_config(act.section("cpufreq"));
    if (cpufreq.enable) {
        auto actuator = std::make_unique<act::CpufreqActuator>(fs, cpufreq.options);
        actuator->discover();
        for (const auto& u : actuator->unavailable()) m_unavailable.push_back(u);
        m_rules.push_back(rate_rule("cpu.*.max_freq_hz", cpufreq.min_interval));
        m_actuators.push_back(std::move(actuator));
    }
}

NodeActuators::~NodeActuators() = default;

std::vector<act::Actuator*> NodeActuators::actuators() const {
    std::vector<act::Actuator*> out;
    for (const auto& a : m_actuators) out.push_back(a.get());
    return out;
}

std::vector<sense::Unavailable> NodeActuators::unavailable() const { return m_unavailable; }

}  // namespace joulepilot::cli
