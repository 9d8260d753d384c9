#include "sense/prom/prom_sensor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace joulepilot::sense {
namespace {

// The probe at discovery: a constant expression every Prometheus answers with a scalar, touching no data.
constexpr std::string_view kProbeQuery = "1";

std::vector<std::string> split_dots(const std::string& name) {
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (true) {
        const auto dot = name.find('.', at);
        parts.push_back(name.substr(at, dot - at));
        if (dot == std::string::npos) break;
        at = dot + 1;
    }
    return parts;
}

// The table of one signal: the dotted form [prom.signals.service.x] or the quoted [prom.signals."service.x"].
// Throws when both are present (which one would win is not obvious to the reader of the file).
std::optional<core::ConfigSection> signal_table(const core::ConfigSection& signals, const std::string& name) {
    const bool quoted = signals.has(name);
    core::ConfigSection dotted = signals;
    bool nested = true;
    for (const auto& part : split_dots(name)) {
        if (!dotted.has(part)) {
            nested = false;
            break;
        }
        dotted = dotted.section(part);
    }
    if (quoted && nested) {
        throw core::ConfigError(
            fmt::format("config: key '{}': signal {} is configured twice (dotted and quoted)",
                        signals.path_of(name), name));
    }
    if (quoted) return signals.section(name);
    if (nested) return dotted;
    return std::nullopt;
}

}  // namespace

const std::vector<PromSignal>& service_signal_catalog() {
    // Queries for vLLM's /metrics names (vllm: prefix); a 1 min window smooths over scrape jitter while
    // following load changes within a minute. Quantiles sum the buckets over every replica and model
    // first, so each query yields one number.
    static const std::vector<PromSignal> catalog = {
        {"service.request_rate_rps", "requests/s", "sum(rate(vllm:request_success_total[1m]))",
         "completed requests per second"},
        {"service.ttft_p99_seconds", "s",
         "histogram_quantile(0.99, sum(rate(vllm:time_to_first_token_seconds_bucket[1m])) by (le))",
         "p99 time to first token over the last minute"},
        {"service.tpot_p99_seconds", "s",
         "histogram_quantile(0.99, sum(rate(vllm:time_per_output_token_seconds_bucket[1m])) by (le))",
         "p99 time per output token (inter-token latency) over the last minute"},
        {"service.e2e_latency_p99_seconds", "s",
         "histogram_quantile(0.99, sum(rate(vllm:e2e_request_latency_seconds_bucket[1m])) by (le))",
         "p99 end-to-end request latency over the last minute"},
        {"service.output_tokens_per_second", "tokens/s", "sum(rate(vllm:generation_tokens_total[1m]))",
         "generated tokens per second"},
        {"service.prompt_tokens_per_second", "tokens/s", "sum(rate(vllm:prompt_tokens_total[1m]))",
         "prompt (prefill) tokens per second"},
        {"service.running_requests", "requests", "sum(vllm:num_requests_running)", "requests being served"},
        {"service.waiting_requests", "requests", "sum(vllm:num_requests_waiting)", "requests queued"},
    };
    return catalog;
}

PromSensorOptions read_prom_options(const core::ConfigSection& prom) {
    PromSensorOptions out;
    PromClientOptions& client = out.client;
    client.url = prom.string("url", client.url);
    const auto to_ms = [](double seconds) {
        return std::chrono::milliseconds(std::llround(seconds * 1000.0));
    };
    client.timeout = to_ms(prom.number("timeout_s", 2.0, 0.01, 60.0));
    client.connect_timeout = to_ms(prom.number("connect_timeout_s", 1.0, 0.01, 60.0));
    if (client.connect_timeout > client.timeout) client.connect_timeout = client.timeout;
    client.bearer_token_file = prom.string("bearer_token_file", "");
    client.verify_tls = prom.boolean("verify_tls", true);
    const bool vllm_preset = prom.string("preset", "none", {"none", "vllm"}) == "vllm";

    const core::ConfigSection signals = prom.section("signals");
    for (const PromSignal& known : service_signal_catalog()) {
        const auto table = signal_table(signals, known.name);
        if (!table && !vllm_preset) continue;
        PromSignal signal = known;
        if (table) {
            signal.query = table->string("query", known.query);
            signal.unit = table->string("unit", known.unit, {known.unit});
            if (signal.query.find_first_not_of(" \t\r\n") == std::string::npos) {
                throw core::ConfigError(
                    fmt::format("config: key '{}': the query is empty", table->path_of("query")));
            }
        }
        out.signals.push_back(std::move(signal));
    }
    return out;
}

PromSensor::PromSensor(PromSensorOptions options, PromClient client, const core::Clock* clock)
    : m_options(std::move(options)), m_client(std::move(client)), m_clock(clock) {}

core::Result<std::unique_ptr<PromSensor>> PromSensor::create(PromSensorOptions options,
                                                             const core::Clock* clock) {
    std::set<std::string> seen;
    for (const PromSignal& s : options.signals) {
        if (!s.name.starts_with("service.") || s.name.size() == std::string_view("service.").size()) {
            return core::fail(
                fmt::format("prom: signal '{}': the name must start with \"service.\" "
                            "(e.g. service.ttft_p99_seconds)",
                            s.name));
        }
        if (!seen.insert(s.name).second)
            return core::fail(fmt::format("prom: signal '{}' is listed twice", s.name));
        if (s.query.find_first_not_of(" \t\r\n") == std::string::npos) {
            return core::fail(fmt::format("prom: signal '{}': the query is empty", s.name));
        }
        if (s.unit.empty()) return core::fail(fmt::format("prom: signal '{}': no unit", s.name));
    }
    auto client = PromClient::create(options.client);
    if (!client) return tl::unexpected<core::Error>(client.error());
    return std::unique_ptr<PromSensor>(new PromSensor(std::move(options), std::move(*client), clock));
}

std::vector<SignalInfo> PromSensor::discover() {
    m_stats.assign(m_options.signals.size(), PromSignalStats{});
    m_unavailable.clear();
    if (auto probe = m_client.query(kProbeQuery); !probe) {
        std::string fix;
        switch (probe.error().kind) {
            case PromFailure::unreachable:
            case PromFailure::transport:
                fix = fmt::format("start Prometheus at {} or set [prom] url to where it listens",
                                  m_client.url());
                break;
            case PromFailure::http:
            case PromFailure::config:
                fix = "check [prom] url and bearer_token_file";
                break;
            case PromFailure::api:
            case PromFailure::response:
                fix = fmt::format("check that {} is a Prometheus server (its /api/v1/query)", m_client.url());
                break;
        }
        m_unavailable.push_back(
            {fmt::format("Prometheus at {}", m_client.url()), probe.error().message, fix});
    }
    std::vector<SignalInfo> out;
    out.reserve(m_options.signals.size());
    for (const PromSignal& s : m_options.signals) {
        std::string description = s.description.empty() ? fmt::format("PromQL: {}", s.query) : s.description;
        out.push_back({s.name, s.unit, Provenance::measured, std::move(description)});
    }
    return out;
}

core::Result<void> PromSensor::read(std::span<Sample> samples) {
    const std::size_t n = std::min(samples.size(), m_options.signals.size());
    if (m_stats.size() != m_options.signals.size())
        m_stats.assign(m_options.signals.size(), PromSignalStats{});
    for (Sample& s : samples) s = Sample{};
    // One evaluation time for the whole tick, so every signal describes the same instant.
    const std::optional<core::Seconds> at =
        m_clock != nullptr ? std::optional<core::Seconds>(m_clock->now()) : std::nullopt;
    for (std::size_t i = 0; i < n; ++i) {
        PromSignalStats& stats = m_stats[i];
        auto value = m_client.query_value(m_options.signals[i].query, at);
        if (!value) {
            ++stats.failures;
            stats.last_error = value.error().message;
            if (value.error().kind == PromFailure::unreachable) {
                // The server is down: the other queries would fail the same way, each after a connect
                // attempt.
                for (std::size_t j = i + 1; j < n; ++j) {
                    ++m_stats[j].failures;
                    m_stats[j].last_error = value.error().message;
                }
                return core::fail(value.error().message);
            }
            continue;
        }
        if (!value->has_value()) {
            ++stats.no_data;
            continue;
        }
        const double v = **value;
        if (!std::isfinite(v)) {
            // histogram_quantile gives +Inf when the quantile lies above the highest finite bucket: a real
            // answer, but not a number the models can use; count it so that the bucket layout gets fixed.
            ++stats.failures;
            stats.last_error = fmt::format(
                "prom: query '{}' at {}: yields {} (a quantile above the highest "
                "histogram bucket?)",
                m_options.signals[i].query, m_client.url(), v);
            continue;
        }
        ++stats.reads;
        samples[i] = Sample{v, true};
    }
    return {};
}

}  // namespace joulepilot::sense
