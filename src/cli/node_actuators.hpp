#pragma once
// NodeActuators: the knobs a real node offers, from the config's [act.nvml], [act.rapl] and [act.cpufreq]
// sections (docs/config.md): NVML power limit and SM clock cap, RAPL power limits, cpufreq maximum
// frequency. Each actuator's own minimum time between changes becomes a shield rule that comes before the
// operator's [shield.knobs] rules, so the operator allows knobs and narrows bounds without losing it.
// Discovering a knob never writes it: nothing changes unless the shield is in `act` mode and allows it.
// Used by `joulepilot agent --world node` and `joulepilot restore`. Owned by the command's thread.

#include <memory>
#include <string>
#include <vector>

#include "act/actuator.hpp"
#include "act/shield/knob_rules.hpp"
#include "cli/node_sensors.hpp"
#include "core/config.hpp"
#include "core/rooted_fs.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::cli {

class NodeActuators {
public:
    // `act`: the config's [act] table. `fs`: the filesystem root the sensors use.
    NodeActuators(const core::ConfigSection& act, const core::RootedFs& fs, const NodeSensorOptions& sensors);
    ~NodeActuators();
    NodeActuators(const NodeActuators&) = delete;
    NodeActuators& operator=(const NodeActuators&) = delete;

    [[nodiscard]] std::vector<act::Actuator*> actuators() const;
    // Rules to put before the operator's: each actuator's rate limit, knobs not allowed by default.
    [[nodiscard]] const std::vector<act::KnobRule>& default_rules() const { return m_rules; }
    [[nodiscard]] std::vector<sense::Unavailable> unavailable() const;

private:
    std::vector<std::unique_ptr<act::Actuator>> m_actuators;
    std::vector<act::KnobRule> m_rules;
    std::vector<sense::Unavailable> m_unavailable;
};

}  // namespace joulepilot::cli
