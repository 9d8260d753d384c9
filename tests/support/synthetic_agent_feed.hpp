#pragma once
// Test double: a synthetic agent for the serve layer's integration tests and the API benchmark. It
// publishes made-up but plausible snapshots (4 GPUs, 2 CPU packages, SLO attainment, knobs, a decision
// every few ticks) into a SnapshotAgentView, the way the agent loop does once per tick. Nothing here is
// measured; it exists to give the dashboard and /metrics something to show.

#include <cmath>
#include <memory>
#include <string>

#include "serve/snapshot_agent_view.hpp"

namespace joulepilot::serve::testing {

class SyntheticAgentFeed {
public:
    static constexpr int kGpus = 4;
    static constexpr int kPackages = 2;

    explicit SyntheticAgentFeed(SnapshotAgentView& view) : m_view(view) {
        auto catalog = std::make_shared<sense::SignalCatalog>();
        for (int g = 0; g < kGpus; ++g) {
            catalog->add({"gpu." + std::to_string(g) + ".power_watts", "W", sense::Provenance::derived, ""});
            catalog->add(
                {"gpu." + std::to_string(g) + ".energy_joules_total", "J", sense::Provenance::measured, ""});
        }
        for (int p = 0; p < kPackages; ++p) {
            catalog->add(
                {"cpu." + std::to_string(p) + ".package_power_watts", "W", sense::Provenance::derived, ""});
            catalog->add({"cpu." + std::to_string(p) + ".package_energy_joules_total", "J",
                          sense::Provenance::measured, ""});
        }
        catalog->add({"service.slo_attainment_ratio", "ratio", sense::Provenance::measured, ""});
        m_catalog = catalog;
    }

    // One tick at agent time `t` (seconds).
    void tick(double t) {
        auto obs = std::make_shared<sense::Observation>(m_catalog);
        obs->time = core::Seconds(t);
        std::size_t k = 0;
        double fleet = 0;
        for (int g = 0; g < kGpus; ++g) {
            const double power = 350 + 150 * std::sin(t / 60.0 + g) + 10 * g;
            fleet += power;
            m_gpu_energy[g] += power;
            obs->samples()[k++] = {power, true};
            obs->samples()[k++] = {m_gpu_energy[g], true};
        }
        for (int p = 0; p < kPackages; ++p) {
            const double power = 120 + 30 * std::cos(t / 45.0 + p);
            m_cpu_energy[p] += power;
            obs->samples()[k++] = {power, true};
            obs->samples()[k++] = {m_cpu_energy[p], true};
        }
        obs->samples()[k++] = {0.985 + 0.01 * std::sin(t / 30.0), true};

        AgentSnapshot s;
        AgentStatus& st = s.status;
        st.version = "synthetic";
        st.world = "twin";
        st.policy = "threshold";
        st.shield_mode = "dry_run";
        st.started_at = core::Seconds(m_start);
        st.now = core::Seconds(t);
        st.uptime = core::Seconds(t - m_start);
        st.ticks = ++m_ticks;
        st.last_tick = core::Seconds(t);
        st.last_tick_duration = core::Seconds(0.002);
        st.decisions = m_decisions;
        st.sensor_errors = {{"nvml", 0}, {"rapl", 0}};
        st.signals = m_catalog->size();
        st.ledger = {true, m_ticks * 11, 0, 0, 3, 65536, ""};
        st.knobs = {{"gpu.0.power_limit_watts", "W", m_power_limit, 700, 200, 700, false, ""},
                    {"replica.0.batch_cap", "requests", 256, 256, 8, 512, false, ""}};
        const double tokens_per_s = 6000 + 1500 * std::sin(t / 90.0);
        st.efficiency.energy_per_token_joules = fleet / tokens_per_s;
        st.efficiency.tokens_per_joule = tokens_per_s / fleet;
        s.policy = {"threshold", {{"util_low", 0.3}}, {"static", "threshold", "idle-fsm"}};
        s.observation = obs;

        if (m_ticks % 5 == 0) {
            m_power_limit = m_power_limit > 500 ? 450 : 650;
            DecisionRecord d;
            d.time = core::Seconds(t);
            d.policy = "threshold";
            d.settings = {{"gpu.0.power_limit_watts", m_power_limit}};
            d.rationale = "synthetic decision " + std::to_string(++m_decisions) + ": GPU 0 power limit to " +
                          std::to_string(static_cast<int>(m_power_limit)) + " W";
            m_view.add_decision(d);
        }
        m_view.publish(std::move(s));
    }

private:
    SnapshotAgentView& m_view;
    std::shared_ptr<const sense::SignalCatalog> m_catalog;
    double m_start = 0;
    std::uint64_t m_ticks = 0;
    std::uint64_t m_decisions = 0;
    double m_power_limit = 700;
    double m_gpu_energy[kGpus] = {};
    double m_cpu_energy[kPackages] = {};
};

}  // namespace joulepilot::serve::testing
