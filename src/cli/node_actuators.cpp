#include "cli/node_actuators.hpp"

#include "act/cpufreq/cpufreq_actuator.hpp"
#include "act/nvml/nvml_actuator.hpp"
#include "act/http_knob/http_knob_actuator.hpp"
#include "act/kube/kube_credentials.hpp"
#include "act/kube/kube_scale_actuator.hpp"
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

// [act.kube]: replicas of Deployments/StatefulSets through the scale subresource. Each target is a table
// [act.kube.targets."<kind>/<namespace>/<name>"] with min_replicas and max_replicas.
void add_kube(const core::ConfigSection& kube, std::vector<std::unique_ptr<act::Actuator>>& out,
              std::vector<act::KnobRule>& rules) {
    if (!kube.boolean("enable", false)) return;
    const std::string kubeconfig = kube.string("kubeconfig", "");
    const std::string context = kube.string("context", "");
    const core::Seconds min_interval(kube.number("min_interval_s", 60, 0, 86400));
    std::vector<act::kube::ScaleTarget> targets;
    const core::ConfigSection table = kube.section("targets");
    for (const std::string& key : table.keys()) {
        const auto first = key.find('/');
        const auto second = key.find('/', first == std::string::npos ? first : first + 1);
        if (first == std::string::npos || second == std::string::npos) {
            throw core::ConfigError("config: [act.kube.targets.\"" + key +
                                    "\"]: name the workload as <deployment|statefulset>/<namespace>/<name>");
        }
        auto kind = act::kube::parse_workload_kind(key.substr(0, first));
        if (!kind) throw core::ConfigError("config: [act.kube.targets.\"" + key + "\"]: " + kind.error().message);
        const core::ConfigSection t = table.section(key);
        act::kube::ScaleTarget target;
        target.workload = {*kind, key.substr(first + 1, second - first - 1), key.substr(second + 1)};
        target.min_replicas = static_cast<int>(t.integer("min_replicas", 1, 0, 100000));
        target.max_replicas = static_cast<int>(t.integer("max_replicas", target.min_replicas, target.min_replicas, 100000));
        targets.push_back(std::move(target));
    }
    if (targets.empty()) throw core::ConfigError("config: [act.kube] is enabled but names no [act.kube.targets.\"...\"]");
    auto credentials = act::kube::load_default_credentials(kubeconfig, context);
    if (!credentials) throw core::ConfigError("config: [act.kube]: " + credentials.error().message);
    auto client = act::kube::KubeClient::create(std::move(*credentials));
    if (!client) throw core::ConfigError("config: [act.kube]: " + client.error().message);
    auto actuator = act::kube::KubeScaleActuator::create(std::move(*client), std::move(targets));
    if (!actuator) throw core::ConfigError("config: [act.kube]: " + actuator.error().message);
    rules.push_back(rate_rule("deployment.*.replicas", min_interval));
    rules.push_back(rate_rule("statefulset.*.replicas", min_interval));
    out.push_back(std::move(*actuator));
}

// [act.http_knob]: the model server's knob endpoint (docs/http_knob.md): batch cap, precision.
void add_http_knob(const core::ConfigSection& section, std::vector<std::unique_ptr<act::Actuator>>& out,
                   std::vector<act::KnobRule>& rules) {
    if (!section.boolean("enable", false)) return;
    act::KnobClientOptions options;
    options.url = section.string("url", options.url);
    options.bearer_token_file = section.string("token_file", "");
    const core::Seconds min_interval(section.number("min_interval_s", 10, 0, 86400));
    auto client = act::KnobClient::create(options);
    if (!client) throw core::ConfigError("config: [act.http_knob]: " + client.error().message);
    auto actuator = act::HttpKnobActuator::create(std::move(*client));
    if (!actuator) throw core::ConfigError("config: [act.http_knob]: " + actuator.error().message);
    rules.push_back(rate_rule("replica.*", min_interval));
    out.push_back(std::move(*actuator));
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
    add_kube(act.section("kube"), m_actuators, m_rules);
    add_http_knob(act.section("http_knob"), m_actuators, m_rules);
}

NodeActuators::~NodeActuators() = default;

std::vector<act::Actuator*> NodeActuators::actuators() const {
    std::vector<act::Actuator*> out;
    for (const auto& a : m_actuators) out.push_back(a.get());
    return out;
}

std::vector<sense::Unavailable> NodeActuators::unavailable() const { return m_unavailable; }

}  // namespace joulepilot::cli
