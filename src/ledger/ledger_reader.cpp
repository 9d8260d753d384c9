// LedgerReader: the read side of the ledger on its own SQLite connection (WAL readers never wait for
// the writer). One mutex per reader makes its methods thread-safe; each query is one statement, so it
// sees one consistent snapshot. Raw samples are stored as per-minute blocks (sample_block.hpp); the
// reader unpacks them, so callers see samples as before. Called by the HTTP server, the CLI (`ledger`,
// `audit`) and tests.

#include <algorithm>
#include <mutex>
#include <system_error>

#include "ledger/audit_chain.hpp"
#include "ledger/ledger.hpp"
#include "ledger/sample_block.hpp"
#include "ledger/schema.hpp"
#include "ledger/sqlite_db.hpp"

#include <sqlite3.h>

namespace joulepilot::ledger {

using detail::Database;
using detail::Statement;

namespace {

std::int64_t sql_limit(std::size_t limit) { return limit == 0 ? -1 : static_cast<std::int64_t>(limit); }

std::string cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto part : parts) out += part;
    return out;
}

// "t_ms, id" -> "t_ms DESC, id DESC": an ORDER BY list reversed, key by key.
std::string descending(std::string_view order) {
    std::string out;
    for (std::size_t start = 0; start < order.size();) {
        const std::size_t comma = std::min(order.find(',', start), order.size());
        out += cat({order.substr(start, comma - start), " DESC", comma < order.size() ? "," : ""});
        start = comma + 1;
    }
    return out;
}

// What one kind of time-stamped record (decisions, actions, audit entries, request energy) differs in;
// LedgerReader::Impl::since() and newest() build the queries from it.
template <class T>
struct RecordQuery {
    std::string_view table;
    std::string_view columns;  // what `make` reads, in its order
    std::string_view order;    // oldest first, ties broken: "t_ms, id"
    T (*make)(const Statement&);
    std::string_view time_column = "t_ms";  // since() keeps rows with time_column >= since_ms
};

}  // namespace

struct LedgerReader::Impl {
    Database db;
    mutable std::mutex mutex;

    // Steps through every row of `stmt`, calling `row(stmt)` for each.
    template <class RowFn>
    core::Result<void> each(Statement& stmt, RowFn&& row) const {
        for (;;) {
            auto more = stmt.step();
            if (!more) return tl::unexpected(more.error());
            if (!*more) return {};
            row(stmt);
        }
    }

    // Prepares `sql`, lets `bind` bind it, and collects one T per row with `make`.
    template <class T, class BindFn, class MakeFn>
    core::Result<std::vector<T>> collect(std::string_view sql, BindFn&& bind, MakeFn&& make) const {
        std::lock_guard lock(mutex);
        auto stmt = db.prepare(sql);
        if (!stmt) return tl::unexpected(stmt.error());
        bind(*stmt);
        std::vector<T> out;
        auto done = each(*stmt, [&](const Statement& s) { out.push_back(make(s)); });
        if (!done) return tl::unexpected(done.error());
        return out;
    }

    // The records of `query` with time >= since_ms, oldest first; limit 0: all.
    template <class T>
    core::Result<std::vector<T>> since(const RecordQuery<T>& query, std::int64_t since_ms,
                                       std::size_t limit) const {
        return collect<T>(
            cat({"SELECT ", query.columns, " FROM ", query.table, " WHERE ", query.time_column,
                 " >= ? ORDER BY ", query.order, " LIMIT ?"}),
            [&](Statement& s) { s.bind(1, since_ms).bind(2, sql_limit(limit)); }, query.make);
    }

    // The newest n records of `query` (0: all), oldest first.
    template <class T>
    core::Result<std::vector<T>> newest(const RecordQuery<T>& query, std::size_t n) const {
        auto rows = collect<T>(
            cat({"SELECT ", query.columns, " FROM ", query.table, " ORDER BY ", descending(query.order),
                 " LIMIT ?"}),
            [&](Statement& s) { s.bind(1, sql_limit(n)); }, query.make);
        if (rows) std::reverse(rows->begin(), rows->end());
        return rows;
    }

    // Every raw sample as {series_id, t_ms, value}, in (series, time) order, unpacked from its block.
    core::Result<void> each_sample(const std::function<void(const nlohmann::json&)>& row) const {
        auto stmt = db.prepare(
            "SELECT series_id, minute_ms, count, points FROM sample_blocks ORDER BY series_id, minute_ms");
        if (!stmt) return tl::unexpected(stmt.error());
        std::vector<SamplePoint> points;
        nlohmann::json object = nlohmann::json::object();
        core::Result<void> decoded;
        auto done = each(*stmt, [&](const Statement& s) {
            if (!decoded) return;
            points.clear();
            decoded = detail::decode_block(
                s.int64(1), s.int64(2), s.blob(3), INT64_MIN, INT64_MAX, points,
                "ledger " + db.path().string() + ": series id " + std::to_string(s.int64(0)));
            for (const auto& p : points) {
                object["series_id"] = s.int64(0);
                object["t_ms"] = p.t_ms;
                object["value"] = p.value;
                row(object);
            }
        });
        if (!done) return done;
        return decoded;
    }

    core::Result<std::int64_t> series_id(std::string_view name) const {
        auto stmt = db.prepare("SELECT id FROM series WHERE name = ?");
        if (!stmt) return tl::unexpected(stmt.error());
        stmt->bind(1, name);
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) {
            return core::fail("ledger " + db.path().string() + ": no series named \"" + std::string(name) +
                              "\" (`joulepilot ledger info` lists the series it holds)");
        }
        return stmt->int64(0);
    }
};

namespace {

// The logical table of raw samples (one row per sample), stored as sample_blocks.
constexpr std::string_view kSamplesTable = "samples";

DecisionRecord make_decision(const Statement& s) {
    return DecisionRecord{s.int64(0), s.text(1), s.text(2), s.text(3), s.text(4)};
}
constexpr RecordQuery<DecisionRecord> kDecisions{
    .table = "decisions",
    .columns = "t_ms, policy, rationale, predicted_json, settings_json",
    .order = "t_ms, id",
    .make = make_decision};

ActionRecord make_action(const Statement& s) {
    return ActionRecord{s.int64(0), s.text(1), s.text(2), s.real(3), s.real(4),
                        s.real(5),  s.text(6), s.text(7), s.text(8)};
}
constexpr RecordQuery<ActionRecord> kActions{
    .table = "actions",
    .columns = "t_ms, knob, target, before, after, requested, outcome, policy, reason",
    .order = "t_ms, id",
    .make = make_action};

AuditEntry make_audit(const Statement& s) {
    AuditEntry entry;
    entry.seq = s.int64(0);
    entry.t_ms = s.int64(1);
    entry.kind = s.text(2);
    // A row edited into non-JSON still reads back (as its text); verify_audit() reports it.
    entry.body = nlohmann::json::parse(s.text(3), nullptr, /*allow_exceptions=*/false);
    if (entry.body.is_discarded()) entry.body = s.text(3);
    entry.prev_hash = s.text(4);
    entry.hash = s.text(5);
    return entry;
}
constexpr RecordQuery<AuditEntry> kAudit{.table = "audit",
                                         .columns = "seq, t_ms, kind, body_json, prev_hash, hash",
                                         .order = "seq",
                                         .make = make_audit};

RequestEnergyRecord make_request(const Statement& s) {
    return RequestEnergyRecord{s.text(0),
                               s.text(1),
                               s.text(2),
                               s.int64(3),
                               s.int64(4),
                               s.int64(5),
                               s.int64(6),
                               core::Joules(s.real(7)),
                               core::Joules(s.real(8)),
                               s.real(9)};
}
constexpr std::string_view kRequestColumns =
    "id, model, gpu, start_ms, end_ms, input_tokens, output_tokens, joules, idle_joules, grams_co2";
constexpr RecordQuery<RequestEnergyRecord> kRequests{.table = "request_energy",
                                                     .columns = kRequestColumns,
                                                     .order = "end_ms, id",
                                                     .make = make_request,
                                                     .time_column = "end_ms"};

}  // namespace

LedgerReader::LedgerReader(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
LedgerReader::~LedgerReader() = default;

core::Result<std::unique_ptr<LedgerReader>> LedgerReader::open(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return core::fail("ledger " + path.string() +
                          ": no such file (the agent creates it; pass --ledger FILE or set [ledger] path to "
                          "the ledger you mean)");
    }
    if (std::filesystem::is_directory(path, ec)) {
        return core::fail("ledger " + path.string() +
                          ": is a folder, not a ledger file (pass the file inside)");
    }
    auto db = Database::open(path, Database::Mode::read_only);
    if (!db) return tl::unexpected(db.error());
    (void)sqlite3_busy_timeout(db->handle(), 2000);
    auto version = detail::check_file(*db);
    if (!version) return tl::unexpected(version.error());
    if (*version == 0) {
        return core::fail("ledger " + path.string() +
                          ": an empty file, not a ledger yet (the agent creates the "
                          "tables on its first start)");
    }
    if (*version < kSchemaVersion) {
        return core::fail("ledger " + path.string() + ": schema version " + std::to_string(*version) +
                          " is older than this build's " + std::to_string(kSchemaVersion) +
                          ": run `joulepilot ledger migrate --ledger " + path.string() +
                          "` (or start the agent, which upgrades it)");
    }
    auto impl = std::make_unique<Impl>();
    impl->db = std::move(*db);
    return std::unique_ptr<LedgerReader>(new LedgerReader(std::move(impl)));
}

core::Result<std::vector<SeriesInfo>> LedgerReader::series() const {
    return m_impl->collect<SeriesInfo>(
        "SELECT name, unit, provenance FROM series ORDER BY id", [](Statement&) {},
        [](const Statement& s) {
            return SeriesInfo{s.text(0), s.text(1), s.text(2)};
        });
}

core::Result<std::vector<SamplePoint>> LedgerReader::samples(std::string_view series, std::int64_t from_ms,
                                                             std::int64_t to_ms) const {
    std::lock_guard lock(m_impl->mutex);
    auto id = m_impl->series_id(series);
    if (!id) return tl::unexpected(id.error());
    // The block holding from_ms starts up to a minute before it.
    const std::int64_t first_minute =
        from_ms < detail::kEarliestSampleMs ? INT64_MIN : detail::floor_minute(from_ms);
    // Sized once from the blocks' counts: a day is 1.4 MB of points, and growing it by doubling costs
    // several copies and, above glibc's mmap threshold, fresh pages each time (3x the whole query's time).
    auto total = m_impl->db.prepare(
        "SELECT COALESCE(SUM(count), 0) FROM sample_blocks WHERE series_id = ? AND minute_ms >= ? AND "
        "minute_ms < ?");
    if (!total) return tl::unexpected(total.error());
    total->bind(1, *id).bind(2, first_minute).bind(3, to_ms);
    std::size_t expected = 0;
    auto counted = m_impl->each(*total, [&](const Statement& s) { expected = static_cast<std::size_t>(s.int64(0)); });
    if (!counted) return tl::unexpected(counted.error());

    auto stmt = m_impl->db.prepare(
        "SELECT minute_ms, count, points FROM sample_blocks WHERE series_id = ? AND minute_ms >= ? AND "
        "minute_ms < ? ORDER BY minute_ms");
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind(1, *id).bind(2, first_minute).bind(3, to_ms);
    const auto where = "ledger " + m_impl->db.path().string() + ": series " + std::string(series);
    std::vector<SamplePoint> out;
    out.reserve(expected);
    core::Result<void> decoded;
    auto done = m_impl->each(*stmt, [&](const Statement& s) {
        if (decoded) {
            decoded = detail::decode_block(s.int64(0), s.int64(1), s.blob(2), from_ms, to_ms, out, where);
        }
    });
    if (!done) return tl::unexpected(done.error());
    if (!decoded) return tl::unexpected(decoded.error());
    return out;
}

core::Result<std::vector<MinuteAggregate>> LedgerReader::minutes(std::string_view series,
                                                                 std::int64_t from_ms,
                                                                 std::int64_t to_ms) const {
    std::int64_t id = 0;
    {
        std::lock_guard lock(m_impl->mutex);
        auto found = m_impl->series_id(series);
        if (!found) return tl::unexpected(found.error());
        id = *found;
    }
    return m_impl->collect<MinuteAggregate>(
        "SELECT t_ms, min, mean, max, count FROM samples_1m WHERE series_id = ? AND t_ms >= ? AND t_ms < ? "
        "ORDER BY t_ms",
        [&](Statement& s) { s.bind(1, id).bind(2, from_ms).bind(3, to_ms); },
        [](const Statement& s) {
            return MinuteAggregate{s.int64(0), s.real(1), s.real(2), s.real(3), s.int64(4)};
        });
}

core::Result<std::vector<LatestValue>> LedgerReader::latest() const {
    // Per series one primary-key seek, backwards, to its newest block; that block's last point is the
    // newest sample. (A join on a correlated max() subquery was 4x slower: SQLite reads the blocks.)
    std::lock_guard lock(m_impl->mutex);
    if (auto begun = m_impl->db.exec("BEGIN"); !begun) return tl::unexpected(begun.error());  // one snapshot
    auto series = m_impl->db.prepare("SELECT id, name, unit FROM series ORDER BY id");
    auto newest = m_impl->db.prepare(
        "SELECT minute_ms, count, points FROM sample_blocks WHERE series_id = ? ORDER BY minute_ms DESC "
        "LIMIT 1");
    std::vector<LatestValue> out;
    std::vector<SamplePoint> points;
    core::Result<void> outcome;
    if (!series) outcome = tl::unexpected(series.error());
    if (outcome && !newest) outcome = tl::unexpected(newest.error());
    while (outcome) {
        auto row = series->step();
        if (!row) outcome = tl::unexpected(row.error());
        if (!outcome || !*row) break;
        newest->bind(1, series->int64(0));
        auto block = newest->step();
        if (!block) {
            outcome = tl::unexpected(block.error());
        } else if (*block) {
            points.clear();
            outcome = detail::decode_block(
                newest->int64(0), newest->int64(1), newest->blob(2), INT64_MIN, INT64_MAX, points,
                "ledger " + m_impl->db.path().string() + ": series " + series->text(1));
            if (outcome && !points.empty()) {
                out.push_back(
                    LatestValue{series->text(1), series->text(2), points.back().t_ms, points.back().value});
            }
        }
        newest->reset();
    }
    if (series) series->reset();
    (void)m_impl->db.exec("COMMIT");
    if (!outcome) return tl::unexpected(outcome.error());
    return out;
}

core::Result<std::vector<DecisionRecord>> LedgerReader::decisions(std::int64_t since_ms,
                                                                  std::size_t limit) const {
    return m_impl->since(kDecisions, since_ms, limit);
}

core::Result<std::vector<DecisionRecord>> LedgerReader::last_decisions(std::size_t n) const {
    return m_impl->newest(kDecisions, n);
}

core::Result<std::vector<ActionRecord>> LedgerReader::actions(std::int64_t since_ms,
                                                              std::size_t limit) const {
    return m_impl->since(kActions, since_ms, limit);
}

core::Result<std::vector<ActionRecord>> LedgerReader::last_actions(std::size_t n) const {
    return m_impl->newest(kActions, n);
}

core::Result<std::vector<AuditEntry>> LedgerReader::audit(std::int64_t since_ms, std::size_t limit) const {
    return m_impl->since(kAudit, since_ms, limit);
}

core::Result<std::vector<AuditEntry>> LedgerReader::last_audit(std::size_t n) const {
    return m_impl->newest(kAudit, n);
}

core::Result<AuditVerdict> LedgerReader::verify_audit() const {
    std::lock_guard lock(m_impl->mutex);
    // One read transaction: the rows and the recorded head come from the same snapshot.
    if (auto begun = m_impl->db.exec("BEGIN"); !begun) return tl::unexpected(begun.error());
    auto verdict = detail::verify_chain(m_impl->db);
    (void)m_impl->db.exec("COMMIT");
    return verdict;
}

core::Result<std::optional<RequestEnergyRecord>> LedgerReader::request_energy(std::string_view id) const {
    auto rows = m_impl->collect<RequestEnergyRecord>(
        cat({"SELECT ", kRequestColumns, " FROM request_energy WHERE id = ?"}),
        [&](Statement& s) { s.bind(1, id); }, make_request);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<RequestEnergyRecord>();
    return std::optional<RequestEnergyRecord>(std::move(rows->front()));
}

core::Result<std::vector<RequestEnergyRecord>> LedgerReader::requests_since(std::int64_t since_ms,
                                                                            std::size_t limit) const {
    return m_impl->since(kRequests, since_ms, limit);
}

core::Result<std::vector<ModelEnergyTotals>> LedgerReader::energy_by_model(std::int64_t since_ms) const {
    return m_impl->collect<ModelEnergyTotals>(
        "SELECT model, count(*), total(input_tokens), total(output_tokens), total(joules), "
        "total(idle_joules), "
        "total(grams_co2) FROM request_energy WHERE end_ms >= ? GROUP BY model ORDER BY model",
        [&](Statement& s) { s.bind(1, since_ms); },
        [](const Statement& s) {
            return ModelEnergyTotals{s.text(0),
                                     s.int64(1),
                                     static_cast<std::int64_t>(s.real(2)),
                                     static_cast<std::int64_t>(s.real(3)),
                                     core::Joules(s.real(4)),
                                     core::Joules(s.real(5)),
                                     s.real(6)};
        });
}

core::Result<std::optional<JobStateRecord>> LedgerReader::job_state(std::string_view job_id) const {
    auto rows = m_impl->collect<JobStateRecord>(
        "SELECT job_id, state_json, updated_ms FROM job_state WHERE job_id = ?",
        [&](Statement& s) { s.bind(1, job_id); },
        [](const Statement& s) {
            return JobStateRecord{s.text(0), s.text(1), s.int64(2)};
        });
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<JobStateRecord>();
    return std::optional<JobStateRecord>(std::move(rows->front()));
}

core::Result<std::vector<JobStateRecord>> LedgerReader::job_states() const {
    return m_impl->collect<JobStateRecord>(
        "SELECT job_id, state_json, updated_ms FROM job_state ORDER BY job_id", [](Statement&) {},
        [](const Statement& s) {
            return JobStateRecord{s.text(0), s.text(1), s.int64(2)};
        });
}

core::Result<std::optional<std::string>> LedgerReader::value(std::string_view key) const {
    auto rows = m_impl->collect<std::string>(
        "SELECT value FROM key_value WHERE key = ?", [&](Statement& s) { s.bind(1, key); },
        [](const Statement& s) { return s.text(0); });
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::string>();
    return std::optional<std::string>(std::move(rows->front()));
}

core::Result<LedgerInfo> LedgerReader::info() const {
    LedgerInfo info;
    info.path = m_impl->db.path();
    std::lock_guard lock(m_impl->mutex);
    auto version = m_impl->db.scalar("PRAGMA user_version");
    if (!version) return tl::unexpected(version.error());
    info.schema_version = static_cast<int>(version->value_or(0));
    if (auto begun = m_impl->db.exec("BEGIN"); !begun) return tl::unexpected(begun.error());
    for (const auto& table : detail::table_names()) {
        // "samples" counts samples, not the blocks that hold them.
        auto rows =
            m_impl->db.scalar(table == kSamplesTable ? "SELECT coalesce(sum(count), 0) FROM sample_blocks"
                                                     : "SELECT count(*) FROM " + table);
        if (!rows) {
            (void)m_impl->db.exec("COMMIT");
            return tl::unexpected(rows.error());
        }
        info.tables.push_back(TableInfo{table, rows->value_or(0)});
    }
    (void)m_impl->db.exec("COMMIT");
    std::error_code ec;
    for (const auto* suffix : {"", "-wal"}) {
        const auto size = std::filesystem::file_size(info.path.string() + suffix, ec);
        if (!ec) info.file_bytes += size;
    }
    return info;
}

namespace {
core::Result<void> known_table(const Database& db, std::string_view table) {
    const auto& names = detail::table_names();
    if (std::find(names.begin(), names.end(), table) == names.end()) {
        std::string list;
        for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
        return core::fail("ledger " + db.path().string() + ": no table \"" + std::string(table) +
                          "\" (tables: " + list + ")");
    }
    return {};
}
}  // namespace

core::Result<std::vector<std::string>> LedgerReader::table_columns(std::string_view table) const {
    if (auto known = known_table(m_impl->db, table); !known) return tl::unexpected(known.error());
    if (table == kSamplesTable) return std::vector<std::string>{"series_id", "t_ms", "value"};
    return m_impl->collect<std::string>(
        "SELECT name FROM pragma_table_info(?) ORDER BY cid", [&](Statement& s) { s.bind(1, table); },
        [](const Statement& s) { return s.text(0); });
}

core::Result<void> LedgerReader::for_each_row(std::string_view table,
                                              const std::function<void(const nlohmann::json&)>& row) const {
    if (auto known = known_table(m_impl->db, table); !known) return tl::unexpected(known.error());
    std::lock_guard lock(m_impl->mutex);
    if (table == kSamplesTable) return m_impl->each_sample(row);
    // The name was checked against the ledger's own tables above, so it is safe to splice in.
    auto stmt = m_impl->db.prepare("SELECT * FROM " + std::string(table));
    if (!stmt) return tl::unexpected(stmt.error());
    nlohmann::json object = nlohmann::json::object();
    return m_impl->each(*stmt, [&](const Statement& s) {
        for (int c = 0; c < s.column_count(); ++c) {
            auto& cell = object[s.column_name(c)];
            switch (s.column_type(c)) {
                case SQLITE_INTEGER:
                    cell = s.int64(c);
                    break;
                case SQLITE_FLOAT:
                    cell = s.real(c);
                    break;
                case SQLITE_NULL:
                    cell = nullptr;
                    break;
                default:
                    cell = s.text(c);
                    break;
            }
        }
        row(object);
    });
}

}  // namespace joulepilot::ledger
