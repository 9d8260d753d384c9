#pragma once
// Ledger::Writer: the bounded queue and the one thread that owns the ledger's write connection.
// Producers enqueue (never blocking; a full queue drops and counts); the thread commits batches,
// computes the audit chain, retries after busy/full/I/O errors and compacts periodically.
// Thread-safe: every public method may be called from any thread. Used only by Ledger (ledger.cpp).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include "ledger/ledger.hpp"
#include "ledger/sqlite_db.hpp"

namespace joulepilot::ledger {

namespace detail {
struct SeriesRow {
    SeriesId id;
    SeriesInfo info;
};
struct SampleBatch {
    std::vector<Sample> samples;
};
struct KeyValue {
    std::string key;
    std::string value;
};
struct AuditAppend {
    std::int64_t t_ms;
    std::string kind;
    nlohmann::json body;
};
struct Compaction {
    std::int64_t now_ms;
    std::shared_ptr<std::promise<core::Result<void>>> done;
};
using Entry = std::variant<SeriesRow, Sample, SampleBatch, DecisionRecord, ActionRecord, AuditAppend,
                           RequestEnergyRecord, JobStateRecord, KeyValue, Compaction>;

// Whether an enqueue may be refused when the queue is full.
enum class Admission : std::uint8_t { bounded, audit_reserve, always };
}  // namespace detail

class Ledger::Writer {
public:
    static core::Result<std::unique_ptr<Writer>> open(LedgerOptions options);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    SeriesId series(const SeriesInfo& info);
    // Returns the entry's ticket (> 0), or 0 when it was dropped.
    std::uint64_t push(detail::Entry entry, std::size_t units, detail::Admission admission);
    // Waits until the entry with `ticket` (and everything before it) is committed.
    core::Result<void> wait_committed(std::uint64_t ticket, std::chrono::milliseconds timeout);
    core::Result<void> flush(std::chrono::milliseconds timeout);
    core::Result<void> compact(std::int64_t now_ms);
    void count_rejected(std::size_t units);

    [[nodiscard]] LedgerStats stats() const;
    [[nodiscard]] const LedgerReader& reader() const { return *m_reader; }
    [[nodiscard]] const std::filesystem::path& path() const { return m_options.path; }

private:
    struct Queued {
        detail::Entry entry;
        std::size_t units;
        std::uint64_t ticket;
    };
    struct Statements;

    Writer(LedgerOptions options, detail::Database db, int lock_fd);
    core::Result<void> prepare();
    void run();
    // One transaction for `batch`; on success the chain head advances. Sets `permanent` when the
    // failure is in the data (retrying cannot help) rather than in the database's state.
    core::Result<void> write_batch(const std::vector<Queued>& batch, bool& permanent);
    // Writes m_samples (the batch's samples, gathered) into their per-minute blocks: each block the
    // batch touches is merged with what is stored and upserted whole, in this transaction.
    core::Result<void> write_samples();
    // The series' newest stored block (loaded on first use; minute_ms = kNoBlock when it has none).
    core::Result<void> load_newest_block(SeriesId series);
    // Appends the points of the stored block (series, minute_ms), if any, to `out`.
    core::Result<void> read_block(SeriesId series, std::int64_t minute_ms, std::vector<SamplePoint>& out);
    core::Result<void> write_entry(const detail::Entry& entry, std::int64_t& head_seq,
                                   std::string& head_hash);
    core::Result<void> append_audit_row(std::int64_t t_ms, std::string_view kind, const nlohmann::json& body,
                                        std::int64_t& head_seq, std::string& head_hash);
    core::Result<void> run_compaction(std::int64_t now_ms);
    core::Result<void> compact_in_transaction(std::int64_t now_ms);
    // Success: the batch is done (written counts it unless `refused`); failure: counted, batch kept.
    void finish(std::vector<Queued>& batch, const core::Result<void>& outcome, bool refused = false);
    [[nodiscard]] std::int64_t now_ms() const;

    LedgerOptions m_options;
    detail::Database m_db;  // the writer thread's only
    int m_lock_fd;
    std::unique_ptr<Statements> m_statements;
    std::unique_ptr<LedgerReader> m_reader;

    std::vector<Sample> m_samples;  // writer thread only: reused between batches

    // Writer thread only. Each series' newest block as committed (or as written in the open transaction),
    // so appending to the current minute does not read the block back. A series missing here has not
    // been loaded; cleared after a rollback or a compaction, which make it stale.
    struct NewestBlock {
        std::int64_t minute_ms;
        std::vector<SamplePoint> points;
    };
    static constexpr std::int64_t kNoBlock = INT64_MIN;
    std::unordered_map<SeriesId, NewestBlock> m_newest_blocks;
    std::vector<SamplePoint> m_stored;  // scratch: a block read back
    std::vector<SamplePoint> m_merged;  // scratch: a block being written
    std::vector<std::uint8_t> m_blob;   // scratch: its encoding

    // Chain head as committed (writer thread only).
    std::int64_t m_head_seq = 0;
    std::string m_head_hash;

    std::mutex m_series_mutex;
    std::unordered_map<std::string, SeriesId> m_series_ids;
    SeriesId m_last_series_id = 0;

    mutable std::mutex m_mutex;      // guards everything below
    std::condition_variable m_wake;  // the writer: work, flush or stop
    std::condition_variable m_done;  // waiters: something committed or failed
    std::deque<Queued> m_queue;
    std::size_t m_queue_units = 0;
    std::size_t m_pending_units = 0;  // taken by the writer, not yet committed
    std::uint64_t m_next_ticket = 1;
    std::uint64_t m_committed_ticket = 0;
    std::size_t m_flush_waiters = 0;
    bool m_stop = false;
    LedgerStats m_stats;
    std::uint64_t m_audit_lost = 0;  // dropped audit entries not yet recorded in the chain

    std::thread m_thread;
};

}  // namespace joulepilot::ledger
