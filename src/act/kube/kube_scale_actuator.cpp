#include "act/kube/kube_scale_actuator.hpp"

#include <cmath>

#include <fmt/format.h>

namespace joulepilot::act::kube {

std::string KubeScaleActuator::knob_name(const WorkloadRef& workload) {
    return fmt::format("{}.{}/{}.replicas", to_string(workload.kind), workload.ns, workload.name);
}

KubeScaleActuator::KubeScaleActuator(KubeClient client, std::vector<ScaleTarget> targets)
    : m_client(std::move(client)), m_targets(std::move(targets)) {}

core::Result<std::unique_ptr<KubeScaleActuator>> KubeScaleActuator::create(KubeClient client,
                                                                           std::vector<ScaleTarget> targets) {
    std::unique_ptr<KubeScaleActuator> actuator(new KubeScaleActuator(std::move(client), std::move(targets)));
    for (const ScaleTarget& target : actuator->m_targets) {
        if (target.min_replicas < 0 || target.max_replicas < target.min_replicas) {
            return core::fail(fmt::format("kube-scale: {}: replicas range [{}, {}] is empty or negative",
                                          target.workload.text(), target.min_replicas, target.max_replicas));
        }
        auto scale = actuator->m_client.get_scale(target.workload);
        if (!scale) return tl::unexpected(scale.error());
        Knob knob;
        knob.name = knob_name(target.workload);
        knob.unit = "replicas";
        knob.domain = KnobDomain{static_cast<double>(target.min_replicas), static_cast<double>(target.max_replicas),
                                 1, {}};
        knob.default_value = scale->replicas;
        knob.current = scale->replicas;
        actuator->m_knobs.push_back(std::move(knob));
        actuator->m_replicas.push_back(scale->replicas);
    }
    return actuator;
}

std::vector<double> KubeScaleActuator::current() const {
    return {m_replicas.begin(), m_replicas.end()};
}

core::Result<void> KubeScaleActuator::save() {
    std::vector<int> saved;
    for (std::size_t i = 0; i < m_targets.size(); ++i) {
        auto scale = m_client.get_scale(m_targets[i].workload);
        if (!scale) return tl::unexpected(scale.error());
        saved.push_back(scale->replicas);
        m_replicas[i] = scale->replicas;
    }
    m_saved = std::move(saved);
    return {};
}

core::Result<void> KubeScaleActuator::apply(std::span<const KnobSetting> settings) {
    for (const KnobSetting& setting : settings) {
        std::size_t i = 0;
        while (i < m_knobs.size() && m_knobs[i].name != setting.knob) ++i;
        if (i == m_knobs.size()) return core::fail(fmt::format("kube-scale: unknown knob '{}'", setting.knob));
        if (!m_knobs[i].domain.contains(setting.value)) {
            return core::fail(fmt::format("kube-scale: {} = {} is outside [{}, {}] (step 1)", setting.knob,
                                          setting.value, m_knobs[i].domain.min, m_knobs[i].domain.max));
        }
        const int replicas = static_cast<int>(std::lround(setting.value));
        if (replicas == m_replicas[i]) continue;
        auto scale = m_client.set_replicas(m_targets[i].workload, replicas);
        if (!scale) return tl::unexpected(scale.error());
        m_replicas[i] = scale->replicas;
    }
    return {};
}

core::Result<void> KubeScaleActuator::restore() {
    if (m_saved.empty()) return {};
    std::string failures;
    for (std::size_t i = 0; i < m_targets.size(); ++i) {
        auto scale = m_client.set_replicas(m_targets[i].workload, m_saved[i]);
        if (!scale) {
            failures += (failures.empty() ? "" : "; ") + scale.error().message;
            continue;
        }
        m_replicas[i] = scale->replicas;
    }
    if (!failures.empty()) return core::fail("kube-scale: restore incomplete: " + failures);
    return {};
}

void KubeScaleActuator::forget_changes() {
    m_saved.clear();
    for (std::size_t i = 0; i < m_knobs.size(); ++i) {
        m_knobs[i].default_value = m_replicas[i];
        m_knobs[i].current = m_replicas[i];
    }
}

}  // namespace joulepilot::act::kube
