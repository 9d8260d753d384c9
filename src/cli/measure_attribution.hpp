#pragma once
// Who used the joules `joulepilot measure` counted (--per-process, --per-cgroup). Every domain that adds to
// the total (CPU packages, DRAM, each GPU, the CPU estimate) is split at every read that gave it new
// energy, over the span since its previous read:
//   - CPU domains by CPU time in the span: each process's (/proc/<pid>/stat utime + stime) or each cgroup's
//     (cgroup v2 cpu.stat usage_usec of the children of the cgroup root), plus an "other" consumer for the
//     node's busy time (/proc/stat) that no listed process or cgroup accounts for (processes that exited
//     within the span, time in the root cgroup itself);
//   - GPU domains by NVML's per-process SM utilisation share of that GPU since the previous GPU read (per
//     cgroup: the share of the processes in it, from /proc/<pid>/cgroup). A GPU whose driver reports no
//     per-process utilisation (MIG, unsupported) gives its busy energy to one "unattributed" consumer.
//   - idle: the domain's idle power x the span when --idle-baseline measured it (else 0: without a
//     baseline only spans in which nothing ran are idle).
// learn::attribute_energy does each split in integer microjoules, so for every span and in total
// attributed + idle == the measured energy exactly; the report's residual compares that with the domains'
// joules (double precision) and is rounding only.
//
// The CPU split takes the CPU time of the latest read's span for a domain's whole span: RAPL domains are
// read at every read, so the two are the same span unless a read of the domain failed.
// Not thread-safe: the command's main thread calls it from the sampler's hook.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/measure_sampler.hpp"
#include "cli/node_sensors.hpp"
#include "sense/procfs/cgroup_cpu_reader.hpp"
#include "sense/procfs/node_cpu_sensor.hpp"
#include "sense/procfs/process_cpu_reader.hpp"

namespace joulepilot::cli {

// One consumer's energy over every run, per attributed domain.
struct ConsumerEnergy {
    std::string name;                     // "python3 (4242)", "system.slice", "other: ..."
    std::optional<std::int32_t> pid;      // process view only
    std::vector<std::int64_t> domain_uj;  // parallel to AttributionView::domains
    std::int64_t total_uj = 0;
};

struct AttributionView {
    std::string kind;                       // "process" or "cgroup"
    std::vector<std::size_t> domains;       // indices into measure's domains
    std::vector<std::int64_t> measured_uj;  // per attributed domain: the energy the spans split
    std::vector<std::int64_t> idle_uj;
    std::vector<ConsumerEnergy> consumers;  // largest first
    std::vector<std::string> notes;         // what limited it ("GPU 0: no per-process utilisation", ...)

    [[nodiscard]] std::int64_t measured_total_uj() const;
    [[nodiscard]] std::int64_t idle_total_uj() const;
    [[nodiscard]] std::int64_t attributed_total_uj() const;
};

class EnergyAttribution {
public:
    EnergyAttribution(NodeSensors& node, const std::vector<Domain>& domains, bool per_process,
                      bool per_cgroup);
    ~EnergyAttribution();
    EnergyAttribution(const EnergyAttribution&) = delete;
    EnergyAttribution& operator=(const EnergyAttribution&) = delete;

    // The next sample begins a run: it sets baselines and attributes nothing. `idle_w` (per domain, from
    // the idle baseline) may be null.
    void start_run(const std::vector<std::optional<double>>* idle_w);
    // The sampler's hook: attributes the energy each attributed domain gained since its previous read.
    void sample(const IntervalSampler& sampler, double t);

    // Over every run so far, consumers sorted by energy.
    [[nodiscard]] std::vector<AttributionView> views() const;

private:
    struct View;
    struct DomainState {
        std::optional<double> last_j;  // cumulative J at its previous valid read in this run
        double last_t = 0.0;
    };
    void read_cpu(bool baseline_only);
    void read_gpu(bool baseline_only);
    std::string cgroup_of(std::int32_t pid);
    // Splits one span of attributed domain `slot` among `weights` (consumer name, weight) into `view`.
    void attribute(View& view, std::size_t slot, double delta_j, double dt,
                   const std::vector<std::pair<std::string, double>>& weights);

    NodeSensors& m_node;
    const std::vector<Domain>& m_domains;
    std::vector<std::size_t> m_attributed;  // domain indices
    std::vector<DomainState> m_state;       // per attributed domain
    const std::vector<std::optional<double>>* m_idle_w = nullptr;
    bool m_run_start = true;

    std::unique_ptr<View> m_process_view;
    std::unique_ptr<View> m_cgroup_view;

    // CPU time readers and this span's use.
    std::unique_ptr<sense::ProcessCpuReader> m_processes;
    sense::ProcessCpuTracker m_process_tracker;
    std::vector<sense::ProcessCpuTime> m_process_snapshot;
    std::vector<sense::ProcessCpuUse> m_process_use;
    std::unique_ptr<sense::CgroupCpuReader> m_cgroups;
    sense::CgroupCpuTracker m_cgroup_tracker;
    std::vector<sense::CgroupCpuTime> m_cgroup_snapshot;
    std::vector<sense::CgroupCpuUse> m_cgroup_use;
    std::optional<sense::CpuTimes> m_node_cpu;
    double m_node_busy_s = 0.0;  // this span
    double m_seconds_per_tick;
    // GPU: per GPU index, this span's (pid, share), and whether the GPU reports per-process use.
    std::map<unsigned, std::vector<std::pair<std::int32_t, double>>> m_gpu_shares;
    std::map<unsigned, bool> m_gpu_has_processes;
    std::unordered_map<std::int32_t, std::string> m_cgroup_of_pid;
    std::unordered_map<std::int32_t, std::string> m_comm;  // command names of the processes seen
};

// The report of one view. `domain_joules` (per measure domain, summed over the runs) is what the residual
// compares with: residual = domain joules - (attributed + idle), in J and as a fraction.
nlohmann::json attribution_json(const AttributionView& view, const std::vector<Domain>& domains,
                                const std::vector<double>& domain_joules);
// The table: the `top` largest consumers, the rest summed, idle, and the residual line.
void print_attribution(std::ostream& out, const AttributionView& view, const std::vector<Domain>& domains,
                       const std::vector<double>& domain_joules, std::size_t top = 10);

}  // namespace joulepilot::cli
