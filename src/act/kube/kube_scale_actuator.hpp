#pragma once
// KubeScaleActuator: replica counts of Deployments and StatefulSets through the scale subresource, as knobs
// "deployment.<namespace>/<name>.replicas" and "statefulset.<namespace>/<name>.replicas" (unit
// "replicas", step 1, range from the configured min/max). Built by the agent's wiring; after that only the
// SafetyShield calls save/apply/restore, on the loop thread.
//
// create() reads every target's scale once (a missing Deployment or a missing RBAC grant shows at start):
// the replicas found are the knobs' defaults. current() returns the values last read or written (it is
// const and does no I/O). apply() writes each setting that differs from the value last known, stopping at
// the first failure, whose message names the workload; restore() writes back what save() read, trying
// every workload even after one fails.

#include <memory>
#include <string>
#include <vector>

#include "act/actuator.hpp"
#include "act/kube/kube_client.hpp"

namespace joulepilot::act::kube {

struct ScaleTarget {
    WorkloadRef workload;
    int min_replicas = 0;
    int max_replicas = 1;
};

class KubeScaleActuator final : public Actuator {
public:
    static core::Result<std::unique_ptr<KubeScaleActuator>> create(KubeClient client,
                                                                   std::vector<ScaleTarget> targets);

    [[nodiscard]] std::string name() const override { return "kube-scale"; }
    std::vector<Knob> discover() override { return m_knobs; }
    [[nodiscard]] std::vector<double> current() const override;
    core::Result<void> save() override;
    core::Result<void> apply(std::span<const KnobSetting> settings) override;
    core::Result<void> restore() override;
    // After crash recovery: the replicas now (the originals) are the defaults, nothing is left to restore.
    void forget_changes() override;

    // "deployment.default/web.replicas"
    static std::string knob_name(const WorkloadRef& workload);

private:
    KubeScaleActuator(KubeClient client, std::vector<ScaleTarget> targets);

    KubeClient m_client;
    std::vector<ScaleTarget> m_targets;
    std::vector<Knob> m_knobs;
    std::vector<int> m_replicas;  // last read or written, per target
    std::vector<int> m_saved;     // empty until save()
};

}  // namespace joulepilot::act::kube
