// Per-process and per-cgroup attribution for `joulepilot measure` (see measure_attribution.hpp).
#include "cli/measure_attribution.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "learn/attribution.hpp"
#include "sense/nvml/nvml_sensor.hpp"

namespace joulepilot::cli {
namespace {

constexpr const char* kOtherCpuProcess = "other: CPU time of no listed process (exited within a read)";
constexpr const char* kOtherCpuCgroup = "other: CPU time outside the child cgroups";
constexpr const char* kOtherGpuCgroup = "other: GPU processes of no known cgroup";

bool is_gpu_domain(std::string_view name) { return name.starts_with("gpu."); }

std::optional<unsigned> gpu_index(std::string_view name) {
    if (!is_gpu_domain(name)) return std::nullopt;
    unsigned index = 0;
    for (const char c : name.substr(4)) {
        if (c < '0' || c > '9') return std::nullopt;
        index = index * 10 + static_cast<unsigned>(c - '0');
    }
    return index;
}

// "0::/system.slice/nginx.service" -> "system.slice": the child of the cgroup root the process is in,
// the same level CgroupCpuReader lists. The root itself gives "".
std::string top_cgroup(std::string_view text) {
    const std::size_t marker = text.find("0::/");
    if (marker == std::string_view::npos) return {};
    std::string_view path = text.substr(marker + 4);
    path = path.substr(0, path.find_first_of("/\n"));
    return std::string(path);
}

}  // namespace

// Consumers by name, for one view.
struct EnergyAttribution::View {
    AttributionView out;
    std::unordered_map<std::string, std::size_t> index;

    ConsumerEnergy& consumer(const std::string& name, std::optional<std::int32_t> pid) {
        auto [it, inserted] = index.try_emplace(name, out.consumers.size());
        if (inserted) {
            ConsumerEnergy c;
            c.name = name;
            c.pid = pid;
            c.domain_uj.assign(out.domains.size(), 0);
            out.consumers.push_back(std::move(c));
        }
        return out.consumers[it->second];
    }
    void note(const std::string& text) {
        if (std::find(out.notes.begin(), out.notes.end(), text) == out.notes.end()) out.notes.push_back(text);
    }
};

std::int64_t AttributionView::measured_total_uj() const {
    std::int64_t sum = 0;
    for (const std::int64_t v : measured_uj) sum += v;
    return sum;
}

std::int64_t AttributionView::idle_total_uj() const {
    std::int64_t sum = 0;
    for (const std::int64_t v : idle_uj) sum += v;
    return sum;
}

std::int64_t AttributionView::attributed_total_uj() const {
    std::int64_t sum = 0;
    for (const ConsumerEnergy& c : consumers) sum += c.total_uj;
    return sum;
}

EnergyAttribution::EnergyAttribution(NodeSensors& node, const std::vector<Domain>& domains, bool per_process,
                                     bool per_cgroup)
    : m_node(node),
      m_domains(domains),
      m_process_tracker(sense::clock_ticks_per_second()),
      m_seconds_per_tick(1.0 / static_cast<double>(sense::clock_ticks_per_second())) {
    for (std::size_t d = 0; d < domains.size(); ++d) {
        if (domains[d].source != DomainSource::sum && adds_to_total(domains[d].name))
            m_attributed.push_back(d);
    }
    m_state.resize(m_attributed.size());
    const auto make_view = [&](const char* kind) {
        auto view = std::make_unique<View>();
        view->out.kind = kind;
        view->out.domains = m_attributed;
        view->out.measured_uj.assign(m_attributed.size(), 0);
        view->out.idle_uj.assign(m_attributed.size(), 0);
        return view;
    };
    if (per_process) {
        m_process_view = make_view("process");
        // Every process on every read: a measured command's spans need exact per-span CPU time.
        sense::ProcessCpuOptions options;
        options.idle_recheck_reads = 1;
        m_processes = std::make_unique<sense::ProcessCpuReader>(m_node.fs(), options);
    }
    if (per_cgroup) {
        m_cgroup_view = make_view("cgroup");
        m_cgroups = std::make_unique<sense::CgroupCpuReader>(m_node.fs());
        if (auto problem = m_cgroups->check()) {
            m_cgroup_view->note(fmt::format("{}: {}{}", problem->what, problem->reason,
                                            problem->fix.empty() ? "" : " (" + problem->fix + ")"));
        }
    }
}

EnergyAttribution::~EnergyAttribution() = default;

void EnergyAttribution::start_run(const std::vector<std::optional<double>>* idle_w) {
    m_idle_w = idle_w;
    m_run_start = true;
    for (DomainState& s : m_state) s = DomainState{};
}

void EnergyAttribution::read_cpu(bool baseline_only) {
    if (m_processes) {
        if (m_processes->read(m_process_snapshot)) {
            m_process_tracker.update(m_process_snapshot, m_process_use);
        } else {
            m_process_use.clear();
            m_process_view->note("processes: the proc directory could not be listed");
        }
    }
    if (m_cgroups) {
        if (m_cgroups->read(m_cgroup_snapshot)) {
            m_cgroup_tracker.update(m_cgroup_snapshot, m_cgroup_use);
        } else {
            m_cgroup_use.clear();
        }
    }
    m_node_busy_s = 0.0;
    if (auto times = sense::read_cpu_times(m_node.fs())) {
        if (m_node_cpu && times->busy() >= m_node_cpu->busy()) {
            m_node_busy_s = static_cast<double>(times->busy() - m_node_cpu->busy()) * m_seconds_per_tick;
        }
        m_node_cpu = *times;
    }
    if (baseline_only) {
        m_process_use.clear();
        m_cgroup_use.clear();
        m_node_busy_s = 0.0;
    }
}

void EnergyAttribution::read_gpu(bool baseline_only) {
    m_gpu_shares.clear();
    m_gpu_has_processes.clear();
    sense::NvmlSensor* nvml = m_node.nvml();
    if (nvml == nullptr || !nvml->available()) return;
    auto usage = nvml->process_usage();  // since the previous call: the previous GPU read
    if (!usage || baseline_only) return;
    for (const sense::GpuProcessUsage& u : *usage) {
        m_gpu_has_processes[u.gpu] = true;
        if (u.sm_share) m_gpu_shares[u.gpu].emplace_back(static_cast<std::int32_t>(u.pid), *u.sm_share);
    }
}

std::string EnergyAttribution::cgroup_of(std::int32_t pid) {
    if (auto it = m_cgroup_of_pid.find(pid); it != m_cgroup_of_pid.end()) return it->second;
    std::string group;
    if (auto text = m_node.fs().read(fmt::format("proc/{}/cgroup", pid))) group = top_cgroup(*text);
    m_cgroup_of_pid.emplace(pid, group);
    return group;
}

void EnergyAttribution::attribute(View& view, std::size_t slot, double delta_j, double dt,
                                  const std::vector<std::pair<std::string, double>>& weights) {
    const std::size_t d = m_attributed[slot];
    double idle_w = 0.0;
    if (m_idle_w != nullptr && (*m_idle_w)[d]) idle_w = std::max(0.0, *(*m_idle_w)[d]);
    std::vector<double> w;
    w.reserve(weights.size());
    for (const auto& [name, weight] : weights) w.push_back(weight);
    const auto split =
        learn::attribute_energy(learn::DomainInterval{core::Joules(std::max(0.0, delta_j)),
                                                      core::Seconds(std::max(0.0, dt)), core::Watts(idle_w)},
                                w);
    if (!split) {
        view.note(fmt::format("{}: a span could not be split: {}", m_domains[d].name, split.error().message));
        return;
    }
    view.out.measured_uj[slot] += split->measured_uj;
    view.out.idle_uj[slot] += split->idle_uj;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        if (split->consumer_uj[i] == 0) continue;
        ConsumerEnergy& c = view.consumer(weights[i].first, std::nullopt);
        c.domain_uj[slot] += split->consumer_uj[i];
        c.total_uj += split->consumer_uj[i];
    }
}

void EnergyAttribution::sample(const IntervalSampler& sampler, double t) {
    bool cpu_fresh = false;
    bool gpu_fresh = false;
    for (const std::size_t d : m_attributed) {
        if (!sampler.fresh(d)) continue;
        (is_gpu_domain(m_domains[d].name) ? gpu_fresh : cpu_fresh) = true;
    }
    // CPU time is read at every read so its spans line up with the RAPL domains' (read every time).
    const bool baseline = m_run_start;
    read_cpu(baseline);
    if (gpu_fresh || baseline) read_gpu(baseline);
    m_run_start = false;

    for (std::size_t slot = 0; slot < m_attributed.size(); ++slot) {
        const std::size_t d = m_attributed[slot];
        if (!sampler.fresh(d)) continue;
        const DomainTrack& track = sampler.track(d);
        if (!track.valid_now()) continue;  // its energy waits for the next good read
        DomainState& state = m_state[slot];
        const double cumulative = track.cumulative_j();
        std::optional<double> delta;
        if (state.last_j && !baseline) delta = cumulative - *state.last_j;
        const double dt = t - state.last_t;
        state.last_j = cumulative;
        state.last_t = t;
        if (!delta) continue;

        const std::string& name = m_domains[d].name;
        if (const auto gpu = gpu_index(name)) {
            const auto shares = m_gpu_shares.find(*gpu);
            const bool listed = m_gpu_has_processes.contains(*gpu);
            if (m_process_view) {
                std::vector<std::pair<std::string, double>> weights;
                if (shares != m_gpu_shares.end()) {
                    for (const auto& [pid, share] : shares->second) {
                        weights.emplace_back(fmt::format("pid {}", pid), share);
                    }
                } else if (listed) {
                    const std::string label =
                        fmt::format("unattributed: GPU {} (no per-process utilisation)", *gpu);
                    weights.emplace_back(label, 1.0);
                    m_process_view->note(fmt::format(
                        "GPU {}: NVML reports its processes but not their utilisation (MIG or unsupported)",
                        *gpu));
                }
                attribute(*m_process_view, slot, *delta, dt, weights);
            }
            if (m_cgroup_view) {
                std::map<std::string, double> by_group;
                if (shares != m_gpu_shares.end()) {
                    for (const auto& [pid, share] : shares->second) {
                        const std::string group = cgroup_of(pid);
                        by_group[group.empty() ? kOtherGpuCgroup : group] += share;
                    }
                } else if (listed) {
                    by_group[fmt::format("unattributed: GPU {} (no per-process utilisation)", *gpu)] = 1.0;
                }
                std::vector<std::pair<std::string, double>> weights(by_group.begin(), by_group.end());
                attribute(*m_cgroup_view, slot, *delta, dt, weights);
            }
            continue;
        }
        if (m_process_view) {
            std::vector<std::pair<std::string, double>> weights;
            weights.reserve(m_process_use.size() + 1);
            double seen = 0.0;
            for (const sense::ProcessCpuUse& use : m_process_use) {
                weights.emplace_back(fmt::format("pid {}", use.pid), use.cpu.value());
                seen += use.cpu.value();
            }
            weights.emplace_back(kOtherCpuProcess, std::max(0.0, m_node_busy_s - seen));
            attribute(*m_process_view, slot, *delta, dt, weights);
        }
        if (m_cgroup_view) {
            std::vector<std::pair<std::string, double>> weights;
            double seen = 0.0;
            for (const sense::CgroupCpuUse& use : m_cgroup_use) {
                weights.emplace_back(use.path, use.cpu.value());
                seen += use.cpu.value();
            }
            weights.emplace_back(kOtherCpuCgroup, std::max(0.0, m_node_busy_s - seen));
            attribute(*m_cgroup_view, slot, *delta, dt, weights);
        }
    }
    // Names for the processes seen ("pid 4242" -> "python3 (4242)") are filled in by views().
    for (const sense::ProcessCpuUse& use : m_process_use) {
        if (!use.comm.empty()) m_comm[use.pid] = use.comm;
    }
}

std::vector<AttributionView> EnergyAttribution::views() const {
    std::vector<AttributionView> out;
    for (const View* view : {m_process_view.get(), m_cgroup_view.get()}) {
        if (view == nullptr) continue;
        AttributionView v = view->out;
        for (ConsumerEnergy& c : v.consumers) {
            if (!c.name.starts_with("pid ")) continue;
            const auto pid = static_cast<std::int32_t>(std::stol(c.name.substr(4)));
            c.pid = pid;
            const auto comm = m_comm.find(pid);
            c.name =
                comm != m_comm.end() ? fmt::format("{} ({})", comm->second, pid) : fmt::format("pid {}", pid);
        }
        std::stable_sort(
            v.consumers.begin(), v.consumers.end(),
            [](const ConsumerEnergy& a, const ConsumerEnergy& b) { return a.total_uj > b.total_uj; });
        out.push_back(std::move(v));
    }
    return out;
}

namespace {

struct Residual {
    double measured_j = 0.0;
    double accounted_j = 0.0;  // attributed + idle
    [[nodiscard]] double joules() const { return measured_j - accounted_j; }
    [[nodiscard]] double ratio() const { return measured_j > 0 ? std::abs(joules()) / measured_j : 0.0; }
};

Residual residual_of(const AttributionView& view, const std::vector<double>& domain_joules) {
    Residual r;
    for (const std::size_t d : view.domains) r.measured_j += domain_joules[d];
    r.accounted_j = static_cast<double>(view.attributed_total_uj() + view.idle_total_uj()) * 1e-6;
    return r;
}

double joules(std::int64_t uj) { return static_cast<double>(uj) * 1e-6; }

std::string domain_list(const AttributionView& view, const std::vector<Domain>& domains) {
    std::string names;
    for (const std::size_t d : view.domains) names += (names.empty() ? "" : " + ") + domains[d].name;
    return names;
}

}  // namespace

nlohmann::json attribution_json(const AttributionView& view, const std::vector<Domain>& domains,
                                const std::vector<double>& domain_joules) {
    nlohmann::json out;
    out["domains"] = nlohmann::json::array();
    for (std::size_t slot = 0; slot < view.domains.size(); ++slot) {
        const std::size_t d = view.domains[slot];
        out["domains"].push_back({{"name", domains[d].name},
                                  {"measured_j", domain_joules[d]},
                                  {"split_j", joules(view.measured_uj[slot])},
                                  {"idle_j", joules(view.idle_uj[slot])}});
    }
    out["consumers"] = nlohmann::json::array();
    for (const ConsumerEnergy& c : view.consumers) {
        nlohmann::json per_domain = nlohmann::json::object();
        for (std::size_t slot = 0; slot < view.domains.size(); ++slot) {
            if (c.domain_uj[slot] != 0)
                per_domain[domains[view.domains[slot]].name] = joules(c.domain_uj[slot]);
        }
        out["consumers"].push_back({{"name", c.name},
                                    {"pid", c.pid ? nlohmann::json(*c.pid) : nlohmann::json(nullptr)},
                                    {"joules", joules(c.total_uj)},
                                    {"domains", std::move(per_domain)}});
    }
    const Residual r = residual_of(view, domain_joules);
    out["measured_j"] = r.measured_j;
    out["attributed_j"] = joules(view.attributed_total_uj());
    out["idle_j"] = joules(view.idle_total_uj());
    out["residual_j"] = r.joules();
    out["residual_ratio"] = r.ratio();
    out["notes"] = view.notes;
    return out;
}

void print_attribution(std::ostream& out, const AttributionView& view, const std::vector<Domain>& domains,
                       const std::vector<double>& domain_joules, std::size_t top) {
    const Residual r = residual_of(view, domain_joules);
    out << fmt::format("\n Energy by {} ({}; CPU by CPU-time share, GPUs by NVML per-process SM share):\n\n",
                       view.kind, domain_list(view, domains));
    std::size_t width = 24;
    for (std::size_t i = 0; i < std::min(top, view.consumers.size()); ++i)
        width = std::max(width, view.consumers[i].name.size() + 2);
    out << fmt::format("  {:<{}} {:>12} {:>8}\n", view.kind, width, "joules", "share");
    const auto line = [&](const std::string& name, double j) {
        out << fmt::format("  {:<{}} {:>12.3f} {:>7.2f}%\n", name, width, j,
                           r.measured_j > 0 ? 100.0 * j / r.measured_j : 0.0);
    };
    std::int64_t rest_uj = 0;
    for (std::size_t i = 0; i < view.consumers.size(); ++i) {
        if (i < top) {
            line(view.consumers[i].name, joules(view.consumers[i].total_uj));
        } else {
            rest_uj += view.consumers[i].total_uj;
        }
    }
    if (view.consumers.size() > top) {
        line(fmt::format("{} more {}{}", view.consumers.size() - top, view.kind,
                         view.kind == "process" ? "es" : "s"),
             joules(rest_uj));
    }
    line("idle", joules(view.idle_total_uj()));
    out << fmt::format(
        "  attributed {:.6f} J + idle {:.6f} J = {:.6f} J; measured {:.6f} J; residual {:.6f} J ({:.4f}%)\n",
        joules(view.attributed_total_uj()), joules(view.idle_total_uj()), r.accounted_j, r.measured_j,
        r.joules(), 100.0 * r.ratio());
    for (const std::string& note : view.notes) out << "  note: " << note << "\n";
}

}  // namespace joulepilot::cli
