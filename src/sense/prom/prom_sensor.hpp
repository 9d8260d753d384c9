#pragma once
// PromSensor: service metrics of the served model (request rate, latency quantiles, tokens/s) read from a
// Prometheus server, one PromQL expression per signal. Each expression must yield one number: a scalar or
// a vector of one element (aggregate with sum() or max()); an empty vector or NaN makes the sample missing
// ("no data", e.g. no request in the window), which is counted apart from failures.
//
// Config ([prom]; see docs/prometheus.md):
//   url = "http://127.0.0.1:9090"     base URL of the Prometheus server
//   timeout_s = 2.0                   whole request; connect_timeout_s = 1.0
//   bearer_token_file = ""            file holding a bearer token (read for every query)
//   verify_tls = true
//   preset = "none" | "vllm"          "vllm": every signal of vllm_default_signals() with its query
//   [prom.signals.service.ttft_p99_seconds]   one table per signal (the quoted form
//   query = "..."                             [prom.signals."service.ttft_p99_seconds"] works too);
//   unit = "s"                                query defaults to the vLLM one, unit must be the signal's
// Signal names come from service_signal_catalog(): the names the policies read. ConfigSection cannot list
// the keys of a table, so a name outside the catalogue is never asked for and reject_unknown_keys()
// reports it as an unknown key. Code (tests, other worlds) may build PromSensorOptions with any name that
// starts with "service.".
//
// Reads are sequential, one query per signal per tick, each bounded by the timeout. A failed query makes
// only its sample missing and is counted against its signal (signal_stats()). When the server cannot be
// reached at all (refused, host unknown) the rest of the tick is skipped, every sample is missing and
// read() returns the error, so a dead server costs one connect attempt per tick, not one per signal.
// discover() probes the server once; unreachable, it is listed in unavailable() with the URL and the fix,
// and the signals stay (missing until the server comes up: Prometheus often starts after the agent).
//
// Thread-safety: not thread-safe; owned and called by the loop thread only.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "sense/prom/prom_client.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct PromSignal {
    std::string name;   // "service.ttft_p99_seconds": must start with "service."
    std::string unit;   // SI: "s", "requests/s", "tokens/s", "requests", "ratio"
    std::string query;  // PromQL yielding one number
    std::string description;
};

struct PromSensorOptions {
    PromClientOptions client;
    std::vector<PromSignal> signals;
};

// The service signals joulepilot knows, each with its unit and the default query for a vLLM server.
const std::vector<PromSignal>& service_signal_catalog();

// Reads [prom] (pass root().section("prom")). Throws core::ConfigError on a bad value; keys it does not
// know are left for ConfigDocument::reject_unknown_keys(). No signal configured: options.signals is empty
// (the caller then makes no PromSensor).
PromSensorOptions read_prom_options(const core::ConfigSection& prom);

// Per-signal counts since discover().
struct PromSignalStats {
    std::uint64_t reads = 0;     // queries answered with a number
    std::uint64_t no_data = 0;   // empty vector or NaN: missing, not a failure
    std::uint64_t failures = 0;  // error of any kind (including a skipped query when the server was down)
    std::string last_error;      // the latest failure message; empty when none
};

class PromSensor final : public Sensor {
public:
    // Checks the signals (names start with "service.", no duplicates, non-empty queries) and makes the
    // client. `clock` (may be null: the server's own now) gives the evaluation time of each query, in Unix
    // seconds; it must outlive the sensor.
    static core::Result<std::unique_ptr<PromSensor>> create(PromSensorOptions options,
                                                            const core::Clock* clock = nullptr);

    [[nodiscard]] std::string name() const override { return "prom"; }
    std::vector<SignalInfo> discover() override;
    core::Result<void> read(std::span<Sample> samples) override;
    [[nodiscard]] std::vector<Unavailable> unavailable() const override { return m_unavailable; }

    [[nodiscard]] const std::vector<PromSignalStats>& signal_stats() const { return m_stats; }

private:
    PromSensor(PromSensorOptions options, PromClient client, const core::Clock* clock);

    PromSensorOptions m_options;
    PromClient m_client;
    const core::Clock* m_clock;  // null: let the server pick the time
    std::vector<PromSignalStats> m_stats;
    std::vector<Unavailable> m_unavailable;
};

}  // namespace joulepilot::sense
