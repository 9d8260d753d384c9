#include "serve/metrics_exposition.hpp"

#include <array>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include <prometheus/text_serializer.h>

namespace joulepilot::serve {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Families in first-use order, each created with its help text on first use.
class Families {
public:
    void add(const std::string& name, std::string_view help, MetricType type, Labels labels, double value) {
        auto [it, inserted] = m_index.try_emplace(name, m_families.size());
        if (inserted) m_families.push_back(MetricFamily{name, std::string(help), type, {}});
        ClientMetric metric;
        metric.label = std::move(labels);
        switch (type) {
            case MetricType::Counter:
                metric.counter.value = value;
                break;
            case MetricType::Gauge:
                metric.gauge.value = value;
                break;
            default:
                metric.untyped.value = value;
                break;
        }
        m_families[it->second].metric.push_back(std::move(metric));
    }
    void gauge(const std::string& name, std::string_view help, double value, Labels labels = {}) {
        add(name, help, MetricType::Gauge, std::move(labels), value);
    }
    void counter(const std::string& name, std::string_view help, double value, Labels labels = {}) {
        add(name, help, MetricType::Counter, std::move(labels), value);
    }
    void gauge(const std::string& name, std::string_view help, const std::optional<double>& value) {
        if (value) gauge(name, help, *value);
    }
    std::vector<MetricFamily> take() { return std::move(m_families); }

private:
    std::vector<MetricFamily> m_families;
    std::map<std::string, std::size_t> m_index;
};

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    std::size_t begin = 0;
    while (true) {
        const std::size_t at = text.find(sep, begin);
        parts.push_back(
            text.substr(begin, at == std::string_view::npos ? std::string_view::npos : at - begin));
        if (at == std::string_view::npos) break;
        begin = at + 1;
    }
    return parts;
}

// Per-GPU signals with a metric of their own: suffix, metric name, type, help.
struct GpuSignal {
    std::string_view suffix;
    std::string_view metric;
    MetricType type;
    std::string_view help;
};
constexpr std::array<GpuSignal, 5> kGpuSignals = {{
    {"power_watts", "joulepilot_gpu_power_watts", MetricType::Gauge,
     "GPU power, mean over the last sense interval (W)"},
    {"energy_joules_total", "joulepilot_gpu_energy_joules_total", MetricType::Counter,
     "GPU energy since the agent started reading it (J)"},
    {"power_limit_watts", "joulepilot_gpu_power_limit_watts", MetricType::Gauge,
     "GPU power limit in force (W)"},
    {"utilization_ratio", "joulepilot_gpu_utilization_ratio", MetricType::Gauge,
     "Fraction of the last interval the GPU was busy"},
    {"sm_clock_hz", "joulepilot_gpu_sm_clock_hertz", MetricType::Gauge, "Effective GPU SM clock (Hz)"},
}};

// Fixed-name signals: signal, metric, type, help, extra labels.
struct NamedSignal {
    std::string_view signal;
    std::string_view metric;
    MetricType type;
    std::string_view help;
    std::string_view source;  // non-empty: a `source` label
};
constexpr std::array<NamedSignal, 9> kNamedSignals = {{
    {"cpu.estimated_power_watts", "joulepilot_cpu_estimated_power_watts", MetricType::Gauge,
     "CPU power ESTIMATED from utilisation and TDP (no measurable sensor) (W)", ""},
    {"cpu.estimated_energy_joules_total", "joulepilot_cpu_estimated_energy_joules_total", MetricType::Counter,
     "CPU energy ESTIMATED from utilisation and TDP (J)", ""},
    {"node.ipmi_power_watts", "joulepilot_node_power_watts", MetricType::Gauge, "Whole-node power (W)",
     "ipmi"},
    {"fleet.power_watts", "joulepilot_fleet_power_watts", MetricType::Gauge,
     "Sum of the fleet's GPU power (W)", ""},
    {"service.slo_attainment_ratio", "joulepilot_slo_attainment_ratio", MetricType::Gauge,
     "Fraction of recent requests that met both latency SLOs", ""},
    {"service.ttft_p99_seconds", "joulepilot_ttft_p99_seconds", MetricType::Gauge,
     "p99 time to first token of recent requests (s)", ""},
    {"service.tpot_p99_seconds", "joulepilot_tpot_p99_seconds", MetricType::Gauge,
     "p99 time per output token of recent requests (s)", ""},
    {"service.output_tokens_per_second", "joulepilot_output_tokens_per_second", MetricType::Gauge,
     "Output tokens generated per second", ""},
    {"fleet.queue_requests", "joulepilot_queue_requests", MetricType::Gauge, "Requests waiting to be served",
     ""},
}};

// RAPL domains: cpu.<package>.<domain>_energy_joules_total and _power_watts.
constexpr std::array<std::string_view, 5> kRaplDomains = {"package", "core", "uncore", "dram", "psys"};

void add_signal(Families& f, const SignalValue& s) {
    if (!s.value) return;
    const double v = *s.value;
    const auto parts = split(s.name, '.');
    if (parts.size() == 3 && parts[0] == "gpu") {
        for (const GpuSignal& g : kGpuSignals) {
            if (parts[2] == g.suffix) {
                f.add(std::string(g.metric), g.help, g.type, {{"gpu", std::string(parts[1])}}, v);
                return;
            }
        }
    }
    if (parts.size() == 3 && parts[0] == "cpu") {
        for (const std::string_view domain : kRaplDomains) {
            const std::string energy = std::string(domain) + "_energy_joules_total";
            const std::string power = std::string(domain) + "_power_watts";
            if (parts[2] == energy) {
                f.counter("joulepilot_cpu_" + energy,
                          "CPU energy of this RAPL domain since the agent started (J)", v,
                          {{"package", std::string(parts[1])}});
                return;
            }
            if (parts[2] == power) {
                f.gauge("joulepilot_cpu_" + power, "CPU power of this RAPL domain over the last interval (W)",
                        v, {{"package", std::string(parts[1])}});
                return;
            }
        }
    }
    for (const NamedSignal& n : kNamedSignals) {
        if (s.name == n.signal) {
            Labels labels;
            if (!n.source.empty()) labels.push_back({"source", std::string(n.source)});
            f.add(std::string(n.metric), n.help, n.type, std::move(labels), v);
            return;
        }
    }
}

}  // namespace

std::vector<MetricFamily> metric_families(const MetricsSnapshot& snapshot) {
    Families f;
    const AgentStatus& st = snapshot.status;

    f.gauge("joulepilot_info", "Constant 1; labels say what runs", 1.0,
            {{"version", st.version},
             {"world", st.world},
             {"policy", st.policy},
             {"shield_mode", st.shield_mode}});
    f.gauge("joulepilot_uptime_seconds", "Seconds since the agent started (agent clock)", st.uptime.value());

    // Power and energy per domain, then service signals, from the latest observation.
    for (const SignalValue& s : snapshot.signals) add_signal(f, s);
    for (const SignalValue& s : snapshot.signals) {
        if (!s.value) continue;
        f.gauge("joulepilot_signal_value", "Every signal of the latest observation, in its SI unit", *s.value,
                {{"signal", s.name}, {"unit", s.unit}, {"provenance", s.provenance}});
    }
    f.gauge("joulepilot_signals_missing", "Signals that could not be read at the last tick",
            static_cast<double>(st.signals_missing));

    const EfficiencyStats& e = st.efficiency;
    f.gauge("joulepilot_energy_per_token_joules", "Energy per output token (J)", e.energy_per_token_joules);
    f.gauge("joulepilot_energy_per_request_joules", "Energy per finished request (J)",
            e.energy_per_request_joules);
    f.gauge("joulepilot_tokens_per_joule", "Output tokens per joule", e.tokens_per_joule);
    if (e.estimated_savings_joules_total) {
        f.counter("joulepilot_estimated_savings_joules_total",
                  "ESTIMATED energy saved against the modelled static baseline since start (J)",
                  *e.estimated_savings_joules_total);
    }
    f.gauge("joulepilot_estimated_savings_ratio", "ESTIMATED saved / baseline energy since start",
            e.estimated_savings_ratio);

    for (const KnobValue& k : st.knobs) {
        f.gauge("joulepilot_knob_value", "Current setting of each knob, in its unit", k.value,
                {{"knob", k.name}, {"unit", k.unit}});
    }

    f.counter("joulepilot_ticks_total", "Control loop ticks", static_cast<double>(st.ticks));
    f.counter("joulepilot_tick_deadline_misses_total", "Ticks that ran past their deadline",
              static_cast<double>(st.tick_deadline_misses));
    f.gauge("joulepilot_last_tick_duration_seconds", "Wall time the last tick took (s)",
            st.last_tick_duration.value());
    if (st.last_tick) {
        f.gauge("joulepilot_last_tick_time_seconds", "Agent clock time of the last tick (s)",
                st.last_tick->value());
    }
    f.counter("joulepilot_decisions_total", "Decisions made by the policy",
              static_cast<double>(st.decisions));
    f.counter("joulepilot_rollbacks_total", "Rollbacks to saved settings", static_cast<double>(st.rollbacks));
    for (const auto& [outcome, count] : st.actions_by_outcome) {
        f.counter("joulepilot_actions_total", "Knob settings submitted to the shield, by outcome",
                  static_cast<double>(count), {{"outcome", outcome}});
    }
    for (const auto& [sensor, count] : st.sensor_errors) {
        f.counter("joulepilot_sensor_errors_total", "Failed sensor reads", static_cast<double>(count),
                  {{"sensor", sensor}});
    }

    const LedgerStats& l = st.ledger;
    if (l.enabled) {
        f.counter("joulepilot_ledger_rows_written_total", "Rows committed to the ledger",
                  static_cast<double>(l.written));
        f.counter("joulepilot_ledger_rows_dropped_total", "Rows dropped because the ledger queue was full",
                  static_cast<double>(l.dropped));
        f.counter("joulepilot_ledger_write_errors_total",
                  "Failed ledger commits (disk full, locked database)", static_cast<double>(l.write_errors));
        f.gauge("joulepilot_ledger_queue_rows", "Rows waiting for the ledger writer",
                static_cast<double>(l.queue_depth));
        f.gauge("joulepilot_ledger_queue_capacity_rows", "Capacity of the ledger queue",
                static_cast<double>(l.queue_capacity));
    }

    for (const ModelEnergy& m : snapshot.models) {
        const Labels labels = {{"model", m.model}};
        f.counter("joulepilot_model_requests_total", "Requests posted per model",
                  static_cast<double>(m.requests), labels);
        f.counter("joulepilot_model_output_tokens_total", "Output tokens of posted requests per model",
                  static_cast<double>(m.output_tokens), labels);
        f.counter("joulepilot_model_energy_joules_total", "GPU energy attributed to the model's requests (J)",
                  m.energy_joules, labels);
        if (m.joules_per_token) {
            f.gauge("joulepilot_model_energy_per_token_joules",
                    "Attributed energy per output token per model (J)", *m.joules_per_token, labels);
        }
        if (m.grams_co2) {
            f.counter("joulepilot_model_co2_grams_total", "CO2 of the attributed energy per model (g)",
                      *m.grams_co2, labels);
        }
    }
    return f.take();
}

std::string render_metrics(const MetricsSnapshot& snapshot) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, metric_families(snapshot));
    return out.str();
}

}  // namespace joulepilot::serve
