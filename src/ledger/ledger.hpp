#pragma once
// The ledger: joulepilot's durable record in one SQLite file (WAL mode). It keeps time series of
// samples (raw, and 1-minute aggregates kept longer), decisions with their rationale, knob actions,
// the hash-chained audit trail the safety shield writes, per-request energy records, the scheduler's
// job state and small key/value facts.
//
// Threads: one writer thread owns the write connection and drains a bounded queue in batched
// transactions. Producers (the loop thread, the HTTP server, the shield) call the enqueue methods,
// which never block: when the queue is full the record is dropped and counted (stats().dropped).
// Audit entries get a small reserve above the capacity so a flood of samples cannot crowd them out;
// if even that is full they are dropped, counted, and the writer appends an "audit.lost" entry to the
// chain when it next can, so the loss is visible in the trail itself. commit() is the blocking path for
// callers that need durability before they go on (job state, the shield's saved originals).
// Reads go through LedgerReader, a separate connection (WAL lets it read while the writer writes);
// its methods are thread-safe (one mutex per reader). All methods of Ledger are thread-safe.
//
// Time is milliseconds since the Unix epoch (`t_ms`) everywhere in the ledger: integers, exact, and
// what SQLite indexes best. Energies are core::Joules. Who calls it: the agent (samples, decisions),
// the shield (actions, audit), the HTTP server (request energy, queries), the scheduler's Kubernetes
// controller (job state), and the `ledger` / `audit` CLI commands.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "core/units.hpp"

namespace joulepilot::core {
class ConfigSection;
}

namespace joulepilot::ledger {

// The schema this build writes; older files are migrated on open, newer ones are refused.
inline constexpr int kSchemaVersion = 3;

// Where the agent keeps its ledger unless [ledger] path says otherwise.
inline constexpr const char* kDefaultLedgerPath = "/var/lib/joulepilot/ledger.db";

[[nodiscard]] constexpr std::int64_t to_ms(core::Seconds t) {
    return static_cast<std::int64_t>(t.value() * 1000.0 + (t.value() >= 0 ? 0.5 : -0.5));
}
[[nodiscard]] constexpr core::Seconds from_ms(std::int64_t t_ms) {
    return core::Seconds(static_cast<double>(t_ms) / 1000.0);
}

struct LedgerOptions {
    std::filesystem::path path;
    std::size_t queue_capacity = 1 << 20;                // records (a sample counts as one)
    std::size_t batch_max = 50'000;                      // records per transaction
    std::chrono::milliseconds batch_interval{100};       // longest a record waits before its commit starts
    core::Seconds raw_retention{86'400.0};               // raw samples: 1 day
    core::Seconds downsampled_retention{30 * 86'400.0};  // 1-minute aggregates: 30 days
    // Compaction (downsample, then delete what is past retention) runs in the writer thread this often;
    // 0 turns periodic compaction off (tests call compact()).
    core::Seconds compaction_interval{60.0};
    // How long the writer waits on a lock held by another process before it counts a write error and
    // retries the batch later.
    std::chrono::milliseconds busy_timeout{1000};
    // false: synchronous=NORMAL (a commit survives a crash of the process, the last commits may be lost
    // on power loss); true: synchronous=FULL (fsync on every commit, slower).
    bool durable_commits = false;
    // Largest the database file may grow, in MiB (0: no limit). A write that would pass it fails like a
    // full disk: counted, reported in stats().last_error, retried until retention or the operator frees room.
    std::int64_t max_size_mib = 0;
    // Time source for retention; must be safe to read from the writer thread. Null: the system clock.
    const core::Clock* clock = nullptr;
};

// Reads the [ledger] section (keys documented in docs/config.md): path, queue_capacity, batch_max,
// batch_interval_ms, raw_retention_s, downsampled_retention_s, compaction_interval_s, busy_timeout_ms,
// durable_commits, max_size_mib.
// Throws core::ConfigError on a value out of range.
[[nodiscard]] LedgerOptions read_ledger_options(const core::ConfigSection& section,
                                                const std::filesystem::path& default_path);

// ---- records -------------------------------------------------------------------------------------

// Provenance says where the numbers come from: "measured", "estimated", "modelled", "twin".
struct SeriesInfo {
    std::string name;  // dotted signal name, e.g. "gpu.0.power_watts"
    std::string unit;  // SI unit, e.g. "W"
    std::string provenance = "measured";
    friend bool operator==(const SeriesInfo&, const SeriesInfo&) = default;
};

using SeriesId = std::int64_t;

struct Sample {
    SeriesId series = 0;
    std::int64_t t_ms = 0;
    double value = 0;
    friend bool operator==(const Sample&, const Sample&) = default;
};

struct SamplePoint {
    std::int64_t t_ms = 0;
    double value = 0;
    friend bool operator==(const SamplePoint&, const SamplePoint&) = default;
};

// One minute of a series: [t_ms, t_ms + 60 s).
struct MinuteAggregate {
    std::int64_t t_ms = 0;
    double min = 0;
    double mean = 0;
    double max = 0;
    std::int64_t count = 0;
    friend bool operator==(const MinuteAggregate&, const MinuteAggregate&) = default;
};

struct LatestValue {
    std::string series;
    std::string unit;
    std::int64_t t_ms = 0;
    double value = 0;
};

struct DecisionRecord {
    std::int64_t t_ms = 0;
    std::string policy;
    std::string rationale;
    std::string predicted_json = "{}";  // the policy's predicted effect
    std::string settings_json = "[]";   // the settings it asked for
    friend bool operator==(const DecisionRecord&, const DecisionRecord&) = default;
};

struct ActionRecord {
    std::int64_t t_ms = 0;
    std::string knob;    // "gpu.0.power_limit_watts"
    std::string target;  // device or deployment, e.g. "gpu0", "default/llm-server"
    double before = 0;   // in the knob's unit
    double after = 0;
    double requested = 0;
    std::string outcome;  // applied, clamped, unchanged, refused, not_written, failed, rolled_back
    std::string policy;
    std::string reason;
    friend bool operator==(const ActionRecord&, const ActionRecord&) = default;
};

struct AuditEntry {
    std::int64_t seq = 0;  // 1, 2, 3, ... assigned by the writer
    std::int64_t t_ms = 0;
    std::string kind;  // "action", "restore", "rollback", "config", "audit.lost", ...
    nlohmann::json body;
    std::string prev_hash;  // hex SHA-256; 64 zeros for seq 1
    std::string hash;       // hex SHA-256(prev_hash || canonical {t_ms, kind, body})
};

// The canonical bytes hashed for an entry (JSON, keys sorted, no spaces), and the chain's hash
// function; the one place both live. The order of entries is authenticated by the prev_hash links and
// seq must count up by one, so seq itself is not hashed.
[[nodiscard]] std::string canonical_audit_body(std::int64_t t_ms, std::string_view kind,
                                               const nlohmann::json& body);
[[nodiscard]] std::string chain_hash(std::string_view prev_hash_hex, std::string_view canonical_body);
inline const std::string kGenesisHash(64, '0');

struct RequestEnergyRecord {
    std::string id;
    std::string model;
    std::string gpu;
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    core::Joules joules{0};       // attributed by token share (idle energy excluded)
    core::Joules idle_joules{0};  // this request's share of idle energy, kept separate
    double grams_co2 = 0;         // estimated from the grid intensity at the time
    friend bool operator==(const RequestEnergyRecord&, const RequestEnergyRecord&) = default;
};

struct ModelEnergyTotals {
    std::string model;
    std::int64_t requests = 0;
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    core::Joules joules{0};
    core::Joules idle_joules{0};
    double grams_co2 = 0;
    [[nodiscard]] double joules_per_token() const {
        const auto tokens = input_tokens + output_tokens;
        return tokens > 0 ? joules.value() / static_cast<double>(tokens) : 0.0;
    }
};

struct JobStateRecord {
    std::string job_id;
    std::string state_json;
    std::int64_t updated_ms = 0;
    friend bool operator==(const JobStateRecord&, const JobStateRecord&) = default;
};

// ---- verification, stats, info ---------------------------------------------------------------------

enum class AuditProblem : std::uint8_t { none, hash_mismatch, prev_hash_mismatch, gap, reordered, bad_body };
[[nodiscard]] std::string_view to_string(AuditProblem problem);

struct AuditVerdict {
    std::int64_t entries = 0;        // rows looked at
    std::int64_t last_seq = 0;       // last seq that verified
    std::int64_t first_bad_seq = 0;  // 0 when intact
    AuditProblem problem = AuditProblem::none;
    std::string message;  // "audit: seq 42: hash mismatch (row edited?)"
    [[nodiscard]] bool intact() const { return problem == AuditProblem::none; }
};

struct LedgerStats {
    std::uint64_t enqueued = 0;       // records accepted into the queue
    std::uint64_t written = 0;        // records committed
    std::uint64_t dropped = 0;        // records refused because the queue was full (back-pressure)
    std::uint64_t dropped_audit = 0;  // of which audit entries
    std::uint64_t write_errors = 0;   // failed transactions (busy, full, I/O); their records are retried
    std::uint64_t rejected = 0;       // records the database refused for good (e.g. a NaN sample); logged
    std::uint64_t compactions = 0;
    std::size_t queue_depth = 0;
    std::size_t queue_capacity = 0;
    std::string last_error;  // empty when the last transaction succeeded
    bool healthy = true;     // false while writes fail
};

struct TableInfo {
    std::string name;
    std::int64_t rows = 0;
};

struct LedgerInfo {
    std::filesystem::path path;
    int schema_version = 0;
    std::uint64_t file_bytes = 0;  // main file + WAL
    std::vector<TableInfo> tables;
};

// ---- reading ---------------------------------------------------------------------------------------

// A read-only connection. Opening fails with a message naming the file and the fix when it does not
// exist, is not a joulepilot ledger, has a newer schema than this build, or cannot be read.
// An older schema is readable only after the agent (or `joulepilot ledger migrate`) upgraded it.
class LedgerReader {
public:
    static core::Result<std::unique_ptr<LedgerReader>> open(const std::filesystem::path& path);
    ~LedgerReader();
    LedgerReader(const LedgerReader&) = delete;
    LedgerReader& operator=(const LedgerReader&) = delete;

    [[nodiscard]] core::Result<std::vector<SeriesInfo>> series() const;
    // Raw samples with from_ms <= t_ms < to_ms, oldest first.
    [[nodiscard]] core::Result<std::vector<SamplePoint>> samples(std::string_view series,
                                                                 std::int64_t from_ms,
                                                                 std::int64_t to_ms) const;
    [[nodiscard]] core::Result<std::vector<MinuteAggregate>> minutes(std::string_view series,
                                                                     std::int64_t from_ms,
                                                                     std::int64_t to_ms) const;
    // The newest raw sample of every series that has one.
    [[nodiscard]] core::Result<std::vector<LatestValue>> latest() const;

    // Records with t_ms >= since_ms, oldest first; limit 0: all. last_*: the newest n (0: all), oldest first.
    [[nodiscard]] core::Result<std::vector<DecisionRecord>> decisions(std::int64_t since_ms,
                                                                      std::size_t limit = 0) const;
    [[nodiscard]] core::Result<std::vector<DecisionRecord>> last_decisions(std::size_t n) const;
    [[nodiscard]] core::Result<std::vector<ActionRecord>> actions(std::int64_t since_ms,
                                                                  std::size_t limit = 0) const;
    [[nodiscard]] core::Result<std::vector<ActionRecord>> last_actions(std::size_t n) const;
    [[nodiscard]] core::Result<std::vector<AuditEntry>> audit(std::int64_t since_ms,
                                                              std::size_t limit = 0) const;
    [[nodiscard]] core::Result<std::vector<AuditEntry>> last_audit(std::size_t n) const;
    // Walks the whole chain; reports the first broken seq and why. Never repairs.
    [[nodiscard]] core::Result<AuditVerdict> verify_audit() const;

    [[nodiscard]] core::Result<std::optional<RequestEnergyRecord>> request_energy(std::string_view id) const;
    [[nodiscard]] core::Result<std::vector<RequestEnergyRecord>> requests_since(std::int64_t since_ms,
                                                                                std::size_t limit = 0) const;
    [[nodiscard]] core::Result<std::vector<ModelEnergyTotals>> energy_by_model(
        std::int64_t since_ms = 0) const;

    [[nodiscard]] core::Result<std::optional<JobStateRecord>> job_state(std::string_view job_id) const;
    [[nodiscard]] core::Result<std::vector<JobStateRecord>> job_states() const;
    [[nodiscard]] core::Result<std::optional<std::string>> value(std::string_view key) const;

    [[nodiscard]] core::Result<LedgerInfo> info() const;
    // Every row of one table as a JSON object (column -> value), streamed to `row` in storage order, for
    // `ledger export`. The table must be one of the ledger's own (LedgerInfo::tables lists them).
    [[nodiscard]] core::Result<std::vector<std::string>> table_columns(std::string_view table) const;
    core::Result<void> for_each_row(std::string_view table,
                                    const std::function<void(const nlohmann::json&)>& row) const;

    struct Impl;

private:
    explicit LedgerReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// ---- writing ---------------------------------------------------------------------------------------

class Ledger {
public:
    // Creates the file if missing, migrates an older schema, starts the writer thread. One writing
    // process per file (a lock file `<path>.writer-lock` enforces it). Fails with a message naming the
    // file and the fix (not a ledger, newer schema, permission, already open by another process).
    static core::Result<std::unique_ptr<Ledger>> open(LedgerOptions options);
    // Flushes what is queued (as far as the database lets it) and closes.
    ~Ledger();
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    // The id of a series, created on first use (the row is written before any sample that uses it).
    // Same name again: the same id; unit/provenance of the first definition are kept.
    SeriesId series(const SeriesInfo& info);

    // Non-blocking enqueue; false when the queue was full and the record(s) were dropped (counted). A
    // sample with a NaN value or a time before INT64_MIN + 60 s (no minute block holds it) is rejected
    // (counted in stats().rejected; a batch keeps its other samples).
    bool append(const Sample& sample);
    bool append(std::span<const Sample> samples);  // all or nothing
    bool append(DecisionRecord decision);
    bool append(ActionRecord action);
    bool append(RequestEnergyRecord request);  // same id again replaces the record
    bool append(JobStateRecord job);           // same job_id replaces the state
    bool put_value(std::string key, std::string value);
    // Appends an audit entry; seq and hashes are assigned by the writer, in enqueue order.
    bool append_audit(std::int64_t t_ms, std::string kind, nlohmann::json body);

    // Blocking: enqueued even when the queue is full (a blocked caller adds one record at most), then
    // waits until the record is committed. The error when it was not committed within `timeout` (the
    // record stays queued and is retried).
    core::Result<void> commit(JobStateRecord job,
                              std::chrono::milliseconds timeout = std::chrono::seconds(5));
    core::Result<void> commit_audit(std::int64_t t_ms, std::string kind, nlohmann::json body,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // Waits until everything enqueued before the call is committed; the error when the database did
    // not accept it within `timeout` (records stay queued).
    core::Result<void> flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Downsamples raw samples older than the raw retention into 1-minute aggregates and deletes what is
    // past retention, as of `now_ms`; runs in the writer thread and waits for it.
    core::Result<void> compact(std::int64_t now_ms);

    [[nodiscard]] LedgerStats stats() const;
    // The reader that shares this ledger's file (its own connection).
    [[nodiscard]] const LedgerReader& reader() const;
    [[nodiscard]] const std::filesystem::path& path() const;

    class Writer;

private:
    explicit Ledger(std::unique_ptr<Writer> writer);
    std::unique_ptr<Writer> m_writer;
};

// Runs the migrations on a ledger file (creating it when missing) and returns the schema version now in
// it; for `joulepilot ledger migrate`. Ledger::open does the same before it starts writing.
core::Result<int> migrate_file(const std::filesystem::path& path);

}  // namespace joulepilot::ledger
