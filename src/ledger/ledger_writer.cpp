// Ledger::Writer (see ledger_writer.hpp): the bounded queue, the writer thread, batched transactions,
// the audit chain's append side, retries after busy/full/I/O errors, and compaction (downsampling to
// 1-minute aggregates, then retention).

#include "ledger/ledger_writer.hpp"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sqlite3.h>

#include "core/log.hpp"
#include "ledger/audit_chain.hpp"
#include "ledger/sample_block.hpp"
#include "ledger/schema.hpp"

namespace joulepilot::ledger {

using detail::Database;
using detail::Entry;
using detail::Failure;
using detail::Statement;

namespace {

using detail::floor_minute;
using detail::kMinuteMs;
constexpr const char* kDownsampledUntilKey = "downsample.until_ms";

bool is_transient(Failure failure) { return failure != Failure::data; }

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

struct Ledger::Writer::Statements {
    Statement insert_series;
    Statement upsert_block;
    Statement select_block;
    Statement select_newest_block;
    Statement insert_decision;
    Statement insert_action;
    Statement insert_audit;
    Statement upsert_request;
    Statement upsert_job;
    Statement upsert_value;
    Statement upsert_meta;
    Statement select_meta;
};

// ---- opening ----

core::Result<std::unique_ptr<Ledger::Writer>> Ledger::Writer::open(LedgerOptions options) {
    const auto& path = options.path;
    const auto where = "ledger " + path.string();
    if (path.empty()) return core::fail("ledger: no file given (set [ledger] path or pass --ledger FILE)");
    std::error_code ec;
    const auto folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(folder, ec)) {
        return core::fail(
            where + ": folder " + folder.string() +
            " does not exist (create it, or set [ledger] path to a file in an existing folder)");
    }
    if (std::filesystem::is_directory(path, ec)) {
        return core::fail(where + ": is a folder, not a file (set [ledger] path to a file name inside it)");
    }

    // One writing process per file: the writer's series ids and chain head live in its memory.
    const auto lock_path = path.string() + ".writer-lock";
    const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
        return core::fail(where + ": cannot create lock file " + lock_path + ": " + std::strerror(errno) +
                          " (the folder must be writable by this user)");
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd);
        return core::fail(where +
                          ": already open for writing by another joulepilot process (stop it, or give "
                          "this one another file with [ledger] path / --ledger)");
    }

    auto db = Database::open(path, Database::Mode::read_write_create);
    if (!db) {
        ::close(lock_fd);
        return tl::unexpected(db.error());
    }
    auto writer = std::unique_ptr<Writer>(new Writer(std::move(options), std::move(*db), lock_fd));
    if (auto prepared = writer->prepare(); !prepared) return tl::unexpected(prepared.error());
    writer->m_thread = std::thread([w = writer.get()] {
        w->run();
        // The audit chain hashes with OpenSSL on this thread; free its per-thread state before the thread
        // ends (OpenSSL 3 keeps it until then, and LeakSanitizer reports it otherwise).
        OPENSSL_thread_stop();
    });
    return writer;
}

Ledger::Writer::Writer(LedgerOptions options, Database db, int lock_fd)
    : m_options(std::move(options)), m_db(std::move(db)), m_lock_fd(lock_fd), m_head_hash(kGenesisHash) {
    m_stats.queue_capacity = m_options.queue_capacity;
}

core::Result<void> Ledger::Writer::prepare() {
    // Refuse a foreign or newer file before touching it (WAL mode would change its header).
    if (auto checked = detail::check_file(m_db); !checked) return tl::unexpected(checked.error());
    (void)sqlite3_busy_timeout(m_db.handle(), static_cast<int>(m_options.busy_timeout.count()));
    // Larger pages for a new file (fewer b-tree splits for the sample rows); only possible before WAL.
    (void)m_db.exec("PRAGMA page_size = 8192");
    auto mode = m_db.exec("PRAGMA journal_mode = WAL");
    if (!mode) return mode;
    if (auto synced = m_db.exec(m_options.durable_commits ? "PRAGMA synchronous = FULL"
                                                          : "PRAGMA synchronous = NORMAL");
        !synced) {
        return synced;
    }
    // 64 MiB of page cache; checkpoint the WAL every ~32 MiB rather than every 4 MiB (fewer syncs).
    (void)m_db.exec(
        "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000");
    if (auto migrated = detail::migrate_to(m_db, kSchemaVersion); !migrated) return migrated;
    if (m_options.max_size_mib > 0) {
        // SQLite fails a transaction that needs more pages with SQLITE_FULL, as on a full disk; a file
        // already larger keeps its size as the limit.
        auto page_size = m_db.scalar("PRAGMA page_size");
        if (!page_size) return tl::unexpected(page_size.error());
        const std::int64_t pages = m_options.max_size_mib * 1024 * 1024 / std::max<std::int64_t>(page_size->value_or(4096), 512);
        if (auto capped = m_db.exec("PRAGMA max_page_count = " + std::to_string(pages)); !capped) return capped;
    }

    auto head = m_db.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!head) return tl::unexpected(head.error());
    auto has_head = head->step();
    if (!has_head) return tl::unexpected(has_head.error());
    if (*has_head) {
        m_head_seq = head->int64(0);
        m_head_hash = head->text(1);
    }
    auto series = m_db.prepare("SELECT id, name FROM series");
    if (!series) return tl::unexpected(series.error());
    for (;;) {
        auto row = series->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        m_series_ids.emplace(series->text(1), series->int64(0));
        m_last_series_id = std::max(m_last_series_id, series->int64(0));
    }

    auto statements = std::make_unique<Statements>();
    const std::pair<Statement*, std::string_view> sql[] = {
        {&statements->insert_series,
         "INSERT OR IGNORE INTO series(id, name, unit, provenance) VALUES (?, ?, ?, ?)"},
        // A block is always written whole (merged in memory first), so REPLACE loses nothing.
        {&statements->upsert_block,
         "INSERT OR REPLACE INTO sample_blocks(series_id, minute_ms, count, points) VALUES (?, ?, ?, ?)"},
        {&statements->select_block,
         "SELECT count, points FROM sample_blocks WHERE series_id = ? AND minute_ms = ?"},
        {&statements->select_newest_block,
         "SELECT minute_ms, count, points FROM sample_blocks WHERE series_id = ? ORDER BY minute_ms DESC "
         "LIMIT 1"},
        {&statements->insert_decision,
         "INSERT INTO decisions(t_ms, policy, rationale, predicted_json, settings_json) VALUES (?, ?, ?, ?, "
         "?)"},
        {&statements->insert_action,
         "INSERT INTO actions(t_ms, knob, target, before, after, requested, outcome, policy, reason) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {&statements->insert_audit,
         "INSERT INTO audit(seq, t_ms, kind, body_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"},
        {&statements->upsert_request,
         "INSERT OR REPLACE INTO request_energy(id, model, gpu, start_ms, end_ms, input_tokens, "
         "output_tokens, "
         "joules, idle_joules, grams_co2) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {&statements->upsert_job,
         "INSERT OR REPLACE INTO job_state(job_id, state_json, updated_ms) VALUES (?, ?, ?)"},
        {&statements->upsert_value, "INSERT OR REPLACE INTO key_value(key, value) VALUES (?, ?)"},
        {&statements->upsert_meta, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"},
        {&statements->select_meta, "SELECT value FROM meta WHERE key = ?"},
    };
    for (const auto& [statement, text] : sql) {
        auto prepared = m_db.prepare(text);
        if (!prepared) return tl::unexpected(prepared.error());
        *statement = std::move(*prepared);
    }
    m_statements = std::move(statements);

    auto reader = LedgerReader::open(m_options.path);
    if (!reader) return tl::unexpected(reader.error());
    m_reader = std::move(*reader);
    return {};
}

Ledger::Writer::~Writer() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
    if (m_thread.joinable()) m_thread.join();
    // Close the connections before the lock that says this process owns the file.
    m_reader.reset();
    m_statements.reset();
    m_db = Database();
    if (m_lock_fd >= 0) ::close(m_lock_fd);
}

// ---- producers ----

SeriesId Ledger::Writer::series(const SeriesInfo& info) {
    SeriesId id = 0;
    {
        std::lock_guard lock(m_series_mutex);
        const auto found = m_series_ids.find(info.name);
        if (found != m_series_ids.end()) return found->second;
        id = ++m_last_series_id;
        m_series_ids.emplace(info.name, id);
        // Queued while holding the series lock, so no sample of this id can be queued before its row.
        push(detail::SeriesRow{id, info}, 1, detail::Admission::always);
    }
    return id;
}

std::uint64_t Ledger::Writer::push(Entry entry, std::size_t units, detail::Admission admission) {
    std::uint64_t ticket = 0;
    bool wake = false;
    {
        std::lock_guard lock(m_mutex);
        const std::size_t held = m_queue_units + m_pending_units;
        const std::size_t capacity = m_options.queue_capacity;
        const std::size_t limit = admission == detail::Admission::bounded ? capacity
                                  : admission == detail::Admission::audit_reserve
                                      ? capacity + std::max<std::size_t>(64, capacity / 8)
                                      : SIZE_MAX;
        if (held + units > limit) {
            m_stats.dropped += units;
            if (admission == detail::Admission::audit_reserve) {
                ++m_stats.dropped_audit;
                ++m_audit_lost;
            }
            return 0;
        }
        ticket = m_next_ticket++;
        const bool was_empty = m_queue.empty();
        m_queue.push_back(Queued{std::move(entry), units, ticket});
        m_queue_units += units;
        m_stats.enqueued += units;
        // Wake the writer only when it has something new to decide; not on every sample.
        wake = was_empty ||
               (m_queue_units >= m_options.batch_max && m_queue_units - units < m_options.batch_max);
    }
    if (wake) m_wake.notify_one();
    return ticket;
}

void Ledger::Writer::count_rejected(std::size_t units) {
    std::lock_guard lock(m_mutex);
    m_stats.rejected += units;
}

core::Result<void> Ledger::Writer::wait_committed(std::uint64_t ticket, std::chrono::milliseconds timeout) {
    std::unique_lock lock(m_mutex);
    if (m_committed_ticket >= ticket) return {};
    ++m_flush_waiters;
    m_wake.notify_one();
    const bool done = m_done.wait_for(lock, timeout, [&] { return m_committed_ticket >= ticket; });
    --m_flush_waiters;
    if (done) return {};
    const auto waiting = m_queue_units + m_pending_units;
    return core::fail(
        "ledger " + m_options.path.string() + ": " + std::to_string(waiting) +
        " records not committed within " + std::to_string(timeout.count()) + " ms" +
        (m_stats.last_error.empty() ? std::string(" (the writer is behind)") : ": " + m_stats.last_error) +
        "; they stay queued and are retried");
}

core::Result<void> Ledger::Writer::flush(std::chrono::milliseconds timeout) {
    std::uint64_t last = 0;
    {
        std::lock_guard lock(m_mutex);
        last = m_next_ticket - 1;
    }
    return wait_committed(last, timeout);
}

core::Result<void> Ledger::Writer::compact(std::int64_t now_ms) {
    auto done = std::make_shared<std::promise<core::Result<void>>>();
    auto result = done->get_future();
    const auto ticket = push(detail::Compaction{now_ms, done}, 0, detail::Admission::always);
    {
        std::lock_guard lock(m_mutex);
        ++m_flush_waiters;  // start it now, without waiting for a fuller batch
    }
    m_wake.notify_one();
    (void)ticket;
    auto outcome = result.get();
    std::lock_guard lock(m_mutex);
    --m_flush_waiters;
    return outcome;
}

LedgerStats Ledger::Writer::stats() const {
    std::lock_guard lock(m_mutex);
    LedgerStats stats = m_stats;
    stats.queue_depth = m_queue_units + m_pending_units;
    return stats;
}

std::int64_t Ledger::Writer::now_ms() const {
    if (m_options.clock != nullptr) return to_ms(m_options.clock->now());
    return to_ms(core::SystemClock().now());
}

// ---- the writer thread ----

void Ledger::Writer::run() {
    using Steady = std::chrono::steady_clock;
    const bool periodic = m_options.compaction_interval.value() > 0;
    const auto interval = std::chrono::duration_cast<Steady::duration>(
        std::chrono::duration<double>(m_options.compaction_interval.value()));
    auto next_compaction = Steady::now() + interval;
    std::vector<Queued> batch;
    int failures = 0;
    std::optional<Steady::time_point> give_up_at;  // set at shutdown while writes still fail

    for (;;) {
        bool lost_audit = false;
        {
            std::unique_lock lock(m_mutex);
            if (batch.empty()) {
                const auto has_work = [&] { return !m_queue.empty() || m_stop || m_audit_lost > 0; };
                if (periodic) {
                    m_wake.wait_until(lock, next_compaction, has_work);
                } else {
                    m_wake.wait(lock, has_work);
                }
                if (m_stop && m_queue.empty() && (m_audit_lost == 0 || give_up_at)) break;
                if (!m_queue.empty()) {
                    // Give producers a moment to fill the batch: fewer, larger transactions.
                    m_wake.wait_for(lock, m_options.batch_interval, [&] {
                        return m_queue_units >= m_options.batch_max || m_flush_waiters > 0 || m_stop;
                    });
                    std::size_t units = 0;
                    while (!m_queue.empty()) {
                        auto& front = m_queue.front();
                        // A compaction runs in a transaction of its own.
                        const bool compaction = std::holds_alternative<detail::Compaction>(front.entry);
                        if (compaction && !batch.empty()) break;
                        if (!batch.empty() && units + front.units > m_options.batch_max) break;
                        units += front.units;
                        batch.push_back(std::move(front));
                        m_queue.pop_front();
                        if (compaction) break;
                    }
                    m_queue_units -= units;
                    m_pending_units = units;
                }
            }
            lost_audit = m_audit_lost > 0;
        }

        try {
            if (!batch.empty() && std::holds_alternative<detail::Compaction>(batch.front().entry)) {
                const auto& request = std::get<detail::Compaction>(batch.front().entry);
                core::Result<void> outcome;
                try {
                    outcome = run_compaction(request.now_ms);
                } catch (const std::exception& error) {
                    outcome =
                        core::fail("ledger " + m_options.path.string() + ": compaction: " + error.what());
                }
                request.done->set_value(outcome);
                finish(batch, {});  // a failed compaction is reported to its caller, not retried
            } else if (!batch.empty() || lost_audit) {
                bool permanent = false;
                auto outcome = write_batch(batch, permanent);
                if (!outcome && permanent) {
                    // Something in the batch is refused for good: write one entry per transaction and set
                    // the refused ones aside, so one bad record cannot stall the ledger.
                    std::vector<Queued> rest = std::move(batch);
                    batch.clear();
                    std::size_t next = 0;
                    for (; next < rest.size(); ++next) {
                        std::vector<Queued> one;
                        one.push_back(std::move(rest[next]));
                        bool refused = false;
                        outcome = write_batch(one, refused);
                        if (outcome) {
                            finish(one, {});
                        } else if (refused) {
                            spdlog::error("{} (record set aside)", outcome.error().message);
                            {
                                std::lock_guard lock(m_mutex);
                                m_stats.rejected += one.front().units;
                            }
                            finish(one, {}, /*refused=*/true);
                        } else {
                            batch.push_back(std::move(one.front()));
                            break;
                        }
                    }
                    for (++next; next < rest.size(); ++next) batch.push_back(std::move(rest[next]));
                    if (batch.empty()) outcome = {};
                }
                if (outcome) {
                    finish(batch, {});
                    failures = 0;
                } else {
                    finish(batch, outcome);
                    ++failures;
                }
            }
        } catch (const std::exception& error) {
            // Never leave the thread: report to the owner through stats() and keep going. Whatever the
            // transaction had written is undone (a no-op when none is open), and with it the block cache.
            (void)m_db.exec("ROLLBACK");
            m_newest_blocks.clear();
            spdlog::error("ledger {}: writer: {}", m_options.path.string(), error.what());
            finish(batch, core::fail(std::string("writer: ") + error.what()));
            ++failures;
        }

        if (failures > 0) {
            std::unique_lock lock(m_mutex);
            if (m_stop) {
                if (!give_up_at) {
                    give_up_at = Steady::now() + std::max<Steady::duration>(2 * m_options.busy_timeout,
                                                                            std::chrono::seconds(1));
                }
                if (Steady::now() >= *give_up_at) {
                    spdlog::error("ledger {}: closing with {} records not written: {}",
                                  m_options.path.string(), m_queue_units + m_pending_units,
                                  m_stats.last_error);
                    break;
                }
            }
            // Back off (50 ms, doubling, at most 2 s) before trying the same batch again.
            const auto backoff = std::chrono::milliseconds(50) * (1 << std::min(failures - 1, 5));
            m_wake.wait_for(lock, std::min<std::chrono::milliseconds>(backoff, std::chrono::seconds(2)),
                            [&] { return m_stop; });
            continue;
        }
        if (periodic && Steady::now() >= next_compaction) {
            if (auto compacted = run_compaction(now_ms()); !compacted) {
                spdlog::warn("{}", compacted.error().message);
            }
            next_compaction = Steady::now() + interval;
        }
    }
}

void Ledger::Writer::finish(std::vector<Queued>& batch, const core::Result<void>& outcome, bool refused) {
    {
        std::lock_guard lock(m_mutex);
        if (outcome) {
            std::size_t units = 0;
            for (const auto& queued : batch) units += queued.units;
            if (!batch.empty()) m_committed_ticket = std::max(m_committed_ticket, batch.back().ticket);
            if (!refused) m_stats.written += units;
            m_pending_units -= std::min(m_pending_units, units);
            m_stats.healthy = true;
            batch.clear();
        } else {
            ++m_stats.write_errors;
            m_stats.last_error = outcome.error().message;
            m_stats.healthy = false;
        }
    }
    m_done.notify_all();
}

core::Result<void> Ledger::Writer::write_batch(const std::vector<Queued>& batch, bool& permanent) {
    permanent = false;
    if (auto begun = m_db.exec("BEGIN IMMEDIATE"); !begun) {
        return core::fail(begun.error().message +
                          (m_db.last_failure() == Failure::busy
                               ? " (another process holds the ledger's write lock; retrying)"
                               : "; retrying"));
    }
    std::int64_t seq = m_head_seq;
    std::string hash = m_head_hash;
    std::uint64_t lost = 0;
    {
        std::lock_guard lock(m_mutex);
        lost = m_audit_lost;
    }
    core::Result<void> outcome;
    try {
        if (lost > 0) {
            // Record in the chain itself that entries were lost to back-pressure.
            outcome = append_audit_row(now_ms(), "audit.lost",
                                       nlohmann::json{{"entries", lost}, {"reason", "ledger queue full"}},
                                       seq, hash);
        }
        for (std::size_t i = 0; outcome && i < batch.size(); ++i) {
            const auto& entry = batch[i].entry;
            if (const auto* one = std::get_if<Sample>(&entry)) {
                m_samples.push_back(*one);
            } else if (const auto* many = std::get_if<detail::SampleBatch>(&entry)) {
                m_samples.insert(m_samples.end(), many->samples.begin(), many->samples.end());
            } else {
                outcome = write_entry(entry, seq, hash);
                if (!outcome) permanent = !is_transient(m_db.last_failure());
            }
        }
        if (outcome) {
            outcome = write_samples();
            if (!outcome) permanent = !is_transient(m_db.last_failure());
        }
        m_samples.clear();
    } catch (const nlohmann::json::exception& error) {
        // E.g. an audit body with a string that is not UTF-8: this record can never be written.
        outcome = core::fail("ledger " + m_options.path.string() + ": record refused: " + error.what());
        permanent = true;
    }
    if (outcome && seq != m_head_seq) {
        auto& meta = m_statements->upsert_meta;
        meta.bind(1, std::string_view(detail::kAuditHeadSeqKey)).bind(2, std::to_string(seq));
        outcome = meta.run();
    }
    if (outcome) {
        outcome = m_db.exec("COMMIT");
        if (!outcome) permanent = false;
    }
    if (!outcome) {
        (void)m_db.exec("ROLLBACK");
        m_newest_blocks.clear();  // may hold blocks of the rolled-back transaction
        return outcome;
    }
    m_head_seq = seq;
    m_head_hash = std::move(hash);
    if (lost > 0) {
        std::lock_guard lock(m_mutex);
        m_audit_lost -= lost;
    }
    return {};
}

core::Result<void> Ledger::Writer::write_samples() {
    // Grouped by series and minute, in time order. Stable, so of two samples of one series at one
    // instant the later one stays last and wins in merge_points().
    std::stable_sort(m_samples.begin(), m_samples.end(), [](const Sample& a, const Sample& b) {
        return a.series != b.series ? a.series < b.series : a.t_ms < b.t_ms;
    });
    auto& upsert = m_statements->upsert_block;
    std::size_t i = 0;
    while (i < m_samples.size()) {
        const SeriesId series = m_samples[i].series;
        if (auto loaded = load_newest_block(series); !loaded) return loaded;
        auto& newest = m_newest_blocks.at(series);
        while (i < m_samples.size() && m_samples[i].series == series) {
            const std::int64_t minute_ms = floor_minute(m_samples[i].t_ms);
            std::size_t end = i + 1;
            while (end < m_samples.size() && m_samples[end].series == series &&
                   floor_minute(m_samples[end].t_ms) == minute_ms) {
                ++end;
            }
            const std::span<const Sample> incoming(m_samples.data() + i, end - i);
            // What is stored for this minute: nothing past the newest block, the newest block from
            // memory, an older one (a late sample) from the file.
            m_stored.clear();
            if (minute_ms < newest.minute_ms) {
                if (auto read = read_block(series, minute_ms, m_stored); !read) return read;
            }
            const auto& stored = minute_ms == newest.minute_ms ? newest.points : m_stored;
            detail::merge_points(stored, incoming, m_merged);
            detail::encode_block(minute_ms, m_merged, m_blob);
            upsert.bind(1, series)
                .bind(2, minute_ms)
                .bind(3, static_cast<std::int64_t>(m_merged.size()))
                .bind(4, std::span<const std::uint8_t>(m_blob));
            if (auto done = upsert.run(); !done) return done;
            if (minute_ms >= newest.minute_ms) {
                newest.minute_ms = minute_ms;
                std::swap(newest.points, m_merged);
            }
            i = end;
        }
    }
    return {};
}

core::Result<void> Ledger::Writer::load_newest_block(SeriesId series) {
    if (m_newest_blocks.contains(series)) return {};
    auto& select = m_statements->select_newest_block;
    select.bind(1, series);
    auto row = select.step();
    if (!row) return tl::unexpected(row.error());
    NewestBlock newest{kNoBlock, {}};
    core::Result<void> decoded;
    if (*row) {
        newest.minute_ms = select.int64(0);
        decoded = detail::decode_block(
            newest.minute_ms, select.int64(1), select.blob(2), INT64_MIN, INT64_MAX, newest.points,
            "ledger " + m_options.path.string() + ": series " + std::to_string(series));
    }
    select.reset();
    if (!decoded) return decoded;
    m_newest_blocks.emplace(series, std::move(newest));
    return {};
}

core::Result<void> Ledger::Writer::read_block(SeriesId series, std::int64_t minute_ms,
                                              std::vector<SamplePoint>& out) {
    auto& select = m_statements->select_block;
    select.bind(1, series).bind(2, minute_ms);
    auto row = select.step();
    if (!row) return tl::unexpected(row.error());
    core::Result<void> decoded;
    if (*row) {
        decoded =
            detail::decode_block(minute_ms, select.int64(0), select.blob(1), INT64_MIN, INT64_MAX, out,
                                 "ledger " + m_options.path.string() + ": series " + std::to_string(series));
    }
    select.reset();
    return decoded;
}

core::Result<void> Ledger::Writer::append_audit_row(std::int64_t t_ms, std::string_view kind,
                                                    const nlohmann::json& body, std::int64_t& head_seq,
                                                    std::string& head_hash) {
    const auto canonical = canonical_audit_body(t_ms, kind, body);
    auto hash = chain_hash(head_hash, canonical);
    auto& insert = m_statements->insert_audit;
    insert.bind(1, head_seq + 1)
        .bind(2, t_ms)
        .bind(3, kind)
        .bind(4, body.dump())
        .bind(5, head_hash)
        .bind(6, hash);
    if (auto done = insert.run(); !done) return done;
    ++head_seq;
    head_hash = std::move(hash);
    return {};
}

core::Result<void> Ledger::Writer::write_entry(const Entry& entry, std::int64_t& head_seq,
                                               std::string& head_hash) {
    auto& s = *m_statements;
    return std::visit(
        Overloaded{
            [&](const detail::SeriesRow& row) {
                s.insert_series.bind(1, row.id)
                    .bind(2, row.info.name)
                    .bind(3, row.info.unit)
                    .bind(4, row.info.provenance);
                return s.insert_series.run();
            },
            // Samples are gathered from the whole batch and written by write_samples().
            [&](const Sample&) { return core::Result<void>(); },
            [&](const detail::SampleBatch&) { return core::Result<void>(); },
            [&](const DecisionRecord& d) {
                s.insert_decision.bind(1, d.t_ms)
                    .bind(2, d.policy)
                    .bind(3, d.rationale)
                    .bind(4, d.predicted_json)
                    .bind(5, d.settings_json);
                return s.insert_decision.run();
            },
            [&](const ActionRecord& a) {
                s.insert_action.bind(1, a.t_ms)
                    .bind(2, a.knob)
                    .bind(3, a.target)
                    .bind(4, a.before)
                    .bind(5, a.after)
                    .bind(6, a.requested)
                    .bind(7, a.outcome)
                    .bind(8, a.policy)
                    .bind(9, a.reason);
                return s.insert_action.run();
            },
            [&](const detail::AuditAppend& audit) {
                return append_audit_row(audit.t_ms, audit.kind, audit.body, head_seq, head_hash);
            },
            [&](const RequestEnergyRecord& r) {
                s.upsert_request.bind(1, r.id)
                    .bind(2, r.model)
                    .bind(3, r.gpu)
                    .bind(4, r.start_ms)
                    .bind(5, r.end_ms)
                    .bind(6, r.input_tokens)
                    .bind(7, r.output_tokens)
                    .bind(8, r.joules.value())
                    .bind(9, r.idle_joules.value())
                    .bind(10, r.grams_co2);
                return s.upsert_request.run();
            },
            [&](const JobStateRecord& job) {
                s.upsert_job.bind(1, job.job_id).bind(2, job.state_json).bind(3, job.updated_ms);
                return s.upsert_job.run();
            },
            [&](const detail::KeyValue& kv) {
                s.upsert_value.bind(1, kv.key).bind(2, kv.value);
                return s.upsert_value.run();
            },
            [&](const detail::Compaction&) { return core::Result<void>(); },
        },
        entry);
}

// ---- compaction ----

core::Result<void> Ledger::Writer::run_compaction(std::int64_t now_ms) {
    auto outcome = m_db.exec("BEGIN IMMEDIATE");
    if (outcome) outcome = compact_in_transaction(now_ms);
    if (outcome) outcome = m_db.exec("COMMIT");
    m_newest_blocks.clear();  // retention may have deleted a series' newest block
    std::lock_guard lock(m_mutex);
    if (!outcome) {
        (void)m_db.exec("ROLLBACK");
        ++m_stats.write_errors;
        m_stats.last_error = "compaction: " + outcome.error().message;
        return outcome;
    }
    ++m_stats.compactions;
    return {};
}

core::Result<void> Ledger::Writer::compact_in_transaction(std::int64_t now_ms) {
    std::vector<std::int64_t> series;
    {
        auto ids = m_db.prepare("SELECT id FROM series");
        if (!ids) return tl::unexpected(ids.error());
        for (;;) {
            auto row = ids->step();
            if (!row) return tl::unexpected(row.error());
            if (!*row) break;
            series.push_back(ids->int64(0));
        }
    }

    // Complete minutes only, with one more minute of grace for samples that arrive late.
    const std::int64_t cutoff = floor_minute(now_ms) - kMinuteMs;
    std::optional<std::int64_t> watermark;
    {
        auto& select = m_statements->select_meta;
        select.bind(1, std::string_view(kDownsampledUntilKey));
        auto row = select.step();
        if (!row) return tl::unexpected(row.error());
        if (*row) watermark = select.int64(0);
        select.reset();
    }
    if (!watermark) {
        // First compaction: start at the oldest block (one primary-key seek per series).
        auto oldest = m_db.prepare("SELECT min(minute_ms) FROM sample_blocks WHERE series_id = ?");
        if (!oldest) return tl::unexpected(oldest.error());
        for (const auto id : series) {
            oldest->bind(1, id);
            auto row = oldest->step();
            if (!row) return tl::unexpected(row.error());
            if (*row && !oldest->is_null(0)) {
                const auto t = oldest->int64(0);
                watermark = watermark ? std::min(*watermark, t) : t;
            }
            oldest->reset();
        }
    }
    std::int64_t downsampled_until = watermark.value_or(cutoff);
    if (watermark && cutoff > *watermark) {
        // A block is one minute of one series: its aggregate is one row of samples_1m.
        auto blocks = m_db.prepare(
            "SELECT minute_ms, count, points FROM sample_blocks WHERE series_id = ? AND minute_ms >= ? AND "
            "minute_ms < ? ORDER BY minute_ms");
        auto aggregate = m_db.prepare(
            "INSERT OR REPLACE INTO samples_1m(series_id, t_ms, min, mean, max, count) VALUES (?, ?, ?, ?, "
            "?, ?)");
        if (!blocks) return tl::unexpected(blocks.error());
        if (!aggregate) return tl::unexpected(aggregate.error());
        const auto where = "ledger " + m_options.path.string() + ": compaction";
        std::vector<SamplePoint> points;
        for (const auto id : series) {
            blocks->bind(1, id).bind(2, *watermark).bind(3, cutoff);
            for (;;) {
                auto row = blocks->step();
                if (!row) return tl::unexpected(row.error());
                if (!*row) break;
                const std::int64_t minute_ms = blocks->int64(0);
                points.clear();
                auto decoded = detail::decode_block(minute_ms, blocks->int64(1), blocks->blob(2), INT64_MIN,
                                                    INT64_MAX, points, where);
                if (!decoded) {
                    blocks->reset();
                    return decoded;
                }
                if (points.empty()) continue;
                double low = points.front().value;
                double high = low;
                double sum = 0;
                for (const auto& p : points) {
                    low = std::min(low, p.value);
                    high = std::max(high, p.value);
                    sum += p.value;
                }
                const auto n = static_cast<std::int64_t>(points.size());
                aggregate->bind(1, id)
                    .bind(2, minute_ms)
                    .bind(3, low)
                    .bind(4, sum / static_cast<double>(n))
                    .bind(5, high)
                    .bind(6, n);
                if (auto done = aggregate->run(); !done) {
                    blocks->reset();
                    return done;
                }
            }
            blocks->reset();
        }
        downsampled_until = cutoff;
    }
    if (watermark) {
        auto& meta = m_statements->upsert_meta;
        meta.bind(1, std::string_view(kDownsampledUntilKey)).bind(2, std::to_string(downsampled_until));
        if (auto done = meta.run(); !done) return done;
    }

    // Raw samples go only once they are past retention *and* downsampled, a whole minute (block) at a
    // time: a block goes when all of its minute is older than the cut.
    const std::int64_t raw_cut = std::min(now_ms - to_ms(m_options.raw_retention), downsampled_until);
    const std::int64_t minute_cut = now_ms - to_ms(m_options.downsampled_retention);
    auto delete_raw = m_db.prepare("DELETE FROM sample_blocks WHERE series_id = ? AND minute_ms < ?");
    auto delete_minutes = m_db.prepare("DELETE FROM samples_1m WHERE series_id = ? AND t_ms < ?");
    if (!delete_raw) return tl::unexpected(delete_raw.error());
    if (!delete_minutes) return tl::unexpected(delete_minutes.error());
    for (const auto id : series) {
        delete_raw->bind(1, id).bind(2, floor_minute(std::max(raw_cut, detail::kEarliestSampleMs)));
        if (auto done = delete_raw->run(); !done) return done;
        delete_minutes->bind(1, id).bind(2, minute_cut);
        if (auto done = delete_minutes->run(); !done) return done;
    }
    return {};
}

}  // namespace joulepilot::ledger
