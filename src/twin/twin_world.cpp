#include "twin/twin_world.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "twin/twin_signals.hpp"

namespace joulepilot::twin {
namespace {

double percentile(std::vector<double>& values, double q) {
    if (values.empty()) return 0.0;
    const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size()))) - 1;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
}

constexpr std::array<double, 10> kBatchCaps = {8, 16, 32, 64, 96, 128, 192, 256, 384, 512};

}  // namespace

// ---- clock: sleeping runs the simulation -------------------------------------------------------------

class TwinWorld::Clock final : public core::Clock {
public:
    explicit Clock(FleetSim& fleet) : m_fleet(fleet) {}
    [[nodiscard]] core::Seconds now() const override { return core::Seconds(m_fleet.now()); }
    void sleep_until(core::Seconds t) override { m_fleet.run_until(t.value()); }

private:
    FleetSim& m_fleet;
};

// ---- sensor ------------------------------------------------------------------------------------------

class TwinWorld::Sensor final : public sense::Sensor {
public:
    explicit Sensor(FleetSim& fleet) : m_fleet(fleet), m_last(static_cast<std::size_t>(fleet.size())) {}

    [[nodiscard]] std::string name() const override { return "twin"; }

    std::vector<sense::SignalInfo> discover() override {
        using sense::Provenance;
        std::vector<sense::SignalInfo> out;
        for (int i = 0; i < m_fleet.size(); ++i) {
            out.push_back({signals::gpu(i, "utilization_ratio"), "ratio", Provenance::measured,
                           "fraction of the interval the GPU was busy"});
            out.push_back({signals::gpu(i, "sm_activity_ratio"), "ratio", Provenance::estimated,
                           "mean fraction of SMs active (twin: modelled from batch size)"});
            out.push_back({signals::gpu(i, "memory_activity_ratio"), "ratio", Provenance::estimated,
                           "fraction of time memory was busy (twin: modelled)"});
            out.push_back({signals::gpu(i, "power_watts"), "W", Provenance::derived, "mean power over the interval"});
            out.push_back({signals::gpu(i, "energy_joules_total"), "J", Provenance::measured, "energy counter"});
            out.push_back({signals::gpu(i, "sm_clock_hz"), "Hz", Provenance::measured, "effective SM clock"});
            out.push_back({signals::replica(i, "queue_requests"), "requests", Provenance::measured, "waiting"});
            out.push_back({signals::replica(i, "running_requests"), "requests", Provenance::measured, "in the batch"});
            out.push_back({signals::replica(i, "state"), "state", Provenance::measured,
                           "0 parked, 1 waking, 2 serving, 3 draining"});
        }
        out.push_back({"fleet.arrival_rate_rps", "requests/s", Provenance::derived, "arrivals per second"});
        out.push_back({"fleet.prompt_tokens_per_s", "tokens/s", Provenance::derived,
                       "prompt tokens of the requests that arrived, per second"});
        out.push_back({"fleet.generation_tokens_per_s", "tokens/s", Provenance::derived,
                       "output tokens generated per second"});
        out.push_back({"fleet.queue_requests", "requests", Provenance::measured, "waiting in all replicas"});
        out.push_back({"fleet.power_watts", "W", Provenance::derived, "sum of GPU power"});
        out.push_back({"service.ttft_p99_seconds", "s", Provenance::measured, "p99 TTFT over the last 60 s"});
        out.push_back({"service.tpot_p99_seconds", "s", Provenance::measured, "p99 TPOT over the last 60 s"});
        out.push_back({"service.slo_attainment_ratio", "ratio", Provenance::measured,
                       "fraction of requests finished in the last 60 s meeting both SLOs"});
        return out;
    }

    core::Result<void> read(std::span<sense::Sample> samples) override {
        const double now = m_fleet.now();
        const double dt = now - m_last_time;
        std::size_t k = 0;
        auto put = [&](double value) { samples[k++] = sense::Sample{value, true}; };
        auto put_rate = [&](double value) {
            samples[k++] = dt > 0 ? sense::Sample{value / dt, true} : sense::Sample{};
        };
        double fleet_power = 0;
        std::uint64_t queued = 0;
        for (int i = 0; i < m_fleet.size(); ++i) {
            const ReplicaSim& r = m_fleet.replica(i);
            const ReplicaCounters& c = r.counters();
            ReplicaCounters& last = m_last[static_cast<std::size_t>(i)];
            put_rate(c.busy_s - last.busy_s);
            put_rate(c.sm_active_s - last.sm_active_s);
            put_rate(c.mem_active_s - last.mem_active_s);
            put_rate(c.energy_j - last.energy_j);
            if (dt > 0) fleet_power += (c.energy_j - last.energy_j) / dt;
            put(c.energy_j);
            put(r.effective_clock().value());
            put(static_cast<double>(r.queued()));
            put(static_cast<double>(r.running()));
            put(static_cast<double>(static_cast<int>(r.state())));
            queued += r.queued();
            last = c;
        }
        const std::uint64_t arrivals = m_fleet.arrivals();
        put_rate(static_cast<double>(arrivals - m_last_arrivals));
        const double prompt_tokens = m_fleet.arrived_prompt_tokens();
        const double generated = m_fleet.generated_tokens();
        put_rate(prompt_tokens - m_last_prompt_tokens);
        put_rate(generated - m_last_generated);
        put(static_cast<double>(queued));
        samples[k++] = dt > 0 ? sense::Sample{fleet_power, true} : sense::Sample{};
        const ServiceWindow window = m_fleet.service_window();
        samples[k++] = window.ttft_p99_s ? sense::Sample{*window.ttft_p99_s, true} : sense::Sample{};
        samples[k++] = window.tpot_p99_s ? sense::Sample{*window.tpot_p99_s, true} : sense::Sample{};
        samples[k++] = window.slo_attainment ? sense::Sample{*window.slo_attainment, true} : sense::Sample{};
        m_last_arrivals = arrivals;
        m_last_prompt_tokens = prompt_tokens;
        m_last_generated = generated;
        m_last_time = now;
        return {};
    }

private:
    FleetSim& m_fleet;
    std::vector<ReplicaCounters> m_last;
    std::uint64_t m_last_arrivals = 0;
    double m_last_prompt_tokens = 0;
    double m_last_generated = 0;
    double m_last_time = 0;
};

// ---- actuator ----------------------------------------------------------------------------------------

class TwinWorld::Actuator final : public act::Actuator {
public:
    explicit Actuator(FleetSim& fleet) : m_fleet(fleet) {}

    [[nodiscard]] std::string name() const override { return "twin"; }

    std::vector<act::Knob> discover() override {
        const GpuSettings& d = m_fleet.config().defaults;
        std::vector<act::Knob> knobs;
        for (int i = 0; i < m_fleet.size(); ++i) {
            knobs.push_back({signals::gpu(i, "sm_clock_cap_hz"), "Hz",
                             act::KnobDomain{core::from_mhz(H100Limits::kMinClockMhz).value(),
                                             core::from_mhz(H100Limits::kMaxClockMhz).value(),
                                             core::from_mhz(H100Limits::kClockStepMhz).value(),
                                             {}},
                             d.sm_clock_cap.value(), 0});
            knobs.push_back({signals::gpu(i, "power_limit_watts"), "W",
                             act::KnobDomain{H100Limits::kMinPowerLimitW, H100Limits::kMaxPowerLimitW, 10, {}},
                             d.power_limit.value(), 0});
            knobs.push_back({signals::replica(i, "batch_cap"), "sequences",
                             act::KnobDomain{kBatchCaps.front(), kBatchCaps.back(), 0,
                                             {kBatchCaps.begin(), kBatchCaps.end()}},
                             static_cast<double>(d.batch_cap), 0});
            knobs.push_back({signals::replica(i, "precision"), "0=bf16,1=fp8", act::KnobDomain{0, 1, 0, {0, 1}},
                             static_cast<double>(static_cast<int>(d.precision)), 0});
            knobs.push_back({signals::replica(i, "active"), "0=parked,1=serving", act::KnobDomain{0, 1, 0, {0, 1}},
                             1, 0});
        }
        return knobs;
    }

    [[nodiscard]] std::vector<double> current() const override {
        std::vector<double> values;
        values.reserve(static_cast<std::size_t>(m_fleet.size()) * kKnobsPerReplica);
        for (int i = 0; i < m_fleet.size(); ++i) {
            const ReplicaSim& r = m_fleet.replica(i);
            const GpuSettings& s = r.settings();
            values.push_back(s.sm_clock_cap.value());
            values.push_back(s.power_limit.value());
            values.push_back(static_cast<double>(s.batch_cap));
            values.push_back(static_cast<double>(static_cast<int>(s.precision)));
            const bool active = r.state() == ReplicaState::serving || r.state() == ReplicaState::waking;
            values.push_back(active ? 1 : 0);
        }
        return values;
    }

    core::Result<void> save() override {
        m_saved = current();
        return {};
    }

    core::Result<void> apply(std::span<const act::KnobSetting> settings) override {
        for (const act::KnobSetting& setting : settings) {
            // "gpu.<i>.<knob>" or "replica.<i>.<knob>"
            const auto first_dot = setting.knob.find('.');
            const auto second_dot = setting.knob.find('.', first_dot + 1);
            if (first_dot == std::string::npos || second_dot == std::string::npos) {
                return core::fail("twin: unknown knob '" + setting.knob + "'");
            }
            const int i = std::stoi(setting.knob.substr(first_dot + 1, second_dot - first_dot - 1));
            const std::string what = setting.knob.substr(second_dot + 1);
            if (i < 0 || i >= m_fleet.size()) return core::fail("twin: no replica " + std::to_string(i));
            ReplicaSim& r = m_fleet.replica(i);
            GpuSettings s = r.settings();
            if (what == "sm_clock_cap_hz") {
                s.sm_clock_cap = core::Hertz(setting.value);
            } else if (what == "power_limit_watts") {
                s.power_limit = core::Watts(setting.value);
            } else if (what == "batch_cap") {
                s.batch_cap = static_cast<int>(setting.value);
            } else if (what == "precision") {
                s.precision = setting.value >= 0.5 ? Precision::fp8 : Precision::bf16;
            } else if (what == "active") {
                r.set_active(setting.value >= 0.5, m_fleet.now());
                ++m_changes;
                continue;
            } else {
                return core::fail("twin: unknown knob '" + setting.knob + "'");
            }
            r.set_settings(s, m_fleet.now());
            ++m_changes;
        }
        return {};
    }

    core::Result<void> restore() override {
        if (m_saved.empty()) return {};
        std::vector<act::KnobSetting> settings;
        const auto knobs = discover();
        for (std::size_t k = 0; k < knobs.size() && k < m_saved.size(); ++k) {
            settings.push_back({knobs[k].name, m_saved[k]});
        }
        return apply(settings);
    }

    [[nodiscard]] std::uint64_t changes() const { return m_changes; }

private:
    static constexpr std::size_t kKnobsPerReplica = 5;
    FleetSim& m_fleet;
    std::vector<double> m_saved;
    std::uint64_t m_changes = 0;
};

// ---- world -------------------------------------------------------------------------------------------

TwinWorld::TwinWorld(const ReplicaModel& model, const FacilityModel& facility, FleetConfig config,
                     Workload workload, double start_unix_s, double timeline_interval_s)
    : TwinWorld(StreamTag{}, model, facility, config, workload_source(std::move(workload))->open(), start_unix_s,
                timeline_interval_s) {}

TwinWorld::TwinWorld(StreamTag, const ReplicaModel& model, const FacilityModel& facility, FleetConfig config,
                     std::unique_ptr<RequestStream> workload, double start_unix_s, double timeline_interval_s)
    : m_facility(facility),
      m_fleet(model, config, std::move(workload)),
      m_start_unix_s(start_unix_s),
      m_timeline_interval_s(timeline_interval_s),
      m_clock(std::make_unique<Clock>(m_fleet)),
      m_sensor(std::make_unique<Sensor>(m_fleet)),
      m_actuator(std::make_unique<Actuator>(m_fleet)) {}

TwinWorld::~TwinWorld() = default;

core::Clock& TwinWorld::clock() { return *m_clock; }
sense::Sensor& TwinWorld::sensor() { return *m_sensor; }
act::Actuator& TwinWorld::actuator() { return *m_actuator; }

RunSummary TwinWorld::summarize(const std::string& scenario, const std::string& policy, double sim_wall_s) const {
    const FleetConfig& config = m_fleet.config();
    RunSummary s;
    s.scenario = scenario;
    s.policy = policy;
    s.zone = m_facility.zone();
    s.gpus = config.gpus;
    s.simulated_s = m_fleet.now();
    s.requests = m_fleet.arrivals();
    s.sim_wall_s = sim_wall_s;
    s.decode_iterations = m_fleet.total_iterations();
    s.knob_changes = m_actuator->changes();

    // Requests: latency percentiles over finished ones, attainment over all that arrived.
    const CompletedRequests& done = m_fleet.completed();
    s.completed = done.count;
    s.output_tokens = done.output_tokens;
    const std::uint64_t met = done.met_slo;
    std::vector<double> ttft = done.ttft_s;  // copies: percentile() reorders them
    std::vector<double> tpot = done.tpot_s;
    s.p50_ttft_s = percentile(ttft, 0.50);
    s.p99_ttft_s = percentile(ttft, 0.99);
    s.p50_tpot_s = percentile(tpot, 0.50);
    s.p99_tpot_s = percentile(tpot, 0.99);
    s.slo_attainment = s.requests > 0 ? static_cast<double>(met) / static_cast<double>(s.requests) : 1.0;
    s.throughput_tokens_per_s = s.simulated_s > 0 ? static_cast<double>(s.output_tokens) / s.simulated_s : 0;

    // Energy, facility, carbon, cost per accounting bucket; the timeline aggregates buckets.
    const double it_capacity_w = config.gpus * H100Limits::kMaxPowerLimitW;
    double pue_weighted = 0;
    TimelinePoint point;
    int buckets_in_point = 0;
    double point_finished = 0;
    double point_met = 0;
    auto flush_point = [&](double duration) {
        if (buckets_in_point == 0) return;
        const double n = buckets_in_point;
        point.arrivals_rps /= duration;
        point.fleet_power_w /= duration;
        point.active_replicas /= n;
        point.mean_sm_clock_mhz /= n;
        point.mean_power_limit_w /= n;
        point.mean_batch_cap /= n;
        point.fp8_fraction /= n;
        point.queue_requests /= n;
        point.slo_attainment = point_finished > 0 ? point_met / point_finished : 1.0;
        s.timeline.push_back(point);
        point = TimelinePoint{};
        buckets_in_point = 0;
        point_finished = point_met = 0;
    };
    double point_start = 0;
    double point_seconds = 0;
    for (const FleetBucket& b : m_fleet.buckets()) {
        const core::Seconds when(m_start_unix_s + b.start_s);
        const double load = b.duration_s > 0 ? b.it_energy_j / b.duration_s / it_capacity_w : 0.0;
        const double pue = m_facility.pue(when, load);
        const double facility_j = b.it_energy_j * pue;
        const double kwh = core::to_kwh(core::Joules(facility_j));
        s.it_energy_j += b.it_energy_j;
        s.facility_energy_j += facility_j;
        s.carbon_g += kwh * m_facility.carbon_g_per_kwh(when);
        s.cost_usd += kwh * m_facility.price_usd_per_kwh(when);
        pue_weighted += pue * b.it_energy_j;

        if (b.start_s >= point_start + m_timeline_interval_s) {
            flush_point(point_seconds);
            point_seconds = 0;
            point_start += m_timeline_interval_s * std::floor((b.start_s - point_start) / m_timeline_interval_s);
        }
        if (buckets_in_point == 0) point.t_s = point_start;
        point.arrivals_rps += static_cast<double>(b.arrivals);
        point.fleet_power_w += b.it_energy_j;
        point.active_replicas += b.serving_replicas;
        point.mean_sm_clock_mhz += b.mean_sm_clock_mhz;
        point.mean_power_limit_w += b.mean_power_limit_w;
        point.mean_batch_cap += b.mean_batch_cap;
        point.fp8_fraction += b.fp8_fraction;
        point.queue_requests += static_cast<double>(b.queued);
        point_finished += static_cast<double>(b.finished);
        point_met += static_cast<double>(b.finished_met_slo);
        point_seconds += b.duration_s;
        ++buckets_in_point;
    }
    flush_point(point_seconds);
    s.mean_pue = s.it_energy_j > 0 ? pue_weighted / s.it_energy_j : 0;
    s.energy_per_token_j = s.output_tokens > 0 ? s.facility_energy_j / static_cast<double>(s.output_tokens) : 0;
    return s;
}

}  // namespace joulepilot::twin
