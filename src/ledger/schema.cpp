// Schema migrations of the ledger (see schema.hpp). A migration is a function from version N to N+1;
// never edit one that has shipped, add the next. Version 1 was the first release (samples, decisions,
// actions, audit); version 2 added 1-minute aggregates, per-request energy, job state, key/value and
// the requested value of an action; version 3 stores raw samples as per-minute blocks (sample_block.hpp)
// instead of one row per sample.

#include "ledger/schema.hpp"

#include <functional>
#include <string>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/sample_block.hpp"

namespace joulepilot::ledger::detail {
namespace {

core::Result<void> migrate_0_to_1(Database& db) {
    return db.exec(R"sql(
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE series(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT NOT NULL,
                            provenance TEXT NOT NULL);
        CREATE TABLE samples(series_id INTEGER NOT NULL, t_ms INTEGER NOT NULL, value REAL NOT NULL,
                             PRIMARY KEY(series_id, t_ms)) WITHOUT ROWID;
        CREATE TABLE decisions(id INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, policy TEXT NOT NULL,
                               rationale TEXT NOT NULL, predicted_json TEXT NOT NULL,
                               settings_json TEXT NOT NULL);
        CREATE INDEX decisions_t ON decisions(t_ms);
        CREATE TABLE actions(id INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, knob TEXT NOT NULL,
                             target TEXT NOT NULL, before REAL, after REAL, outcome TEXT NOT NULL,
                             policy TEXT NOT NULL, reason TEXT NOT NULL);
        CREATE INDEX actions_t ON actions(t_ms);
        CREATE TABLE audit(seq INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL, kind TEXT NOT NULL,
                           body_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE INDEX audit_t ON audit(t_ms);
    )sql");
}

core::Result<void> migrate_1_to_2(Database& db) {
    // Version 1 did not keep the value a policy asked for; the applied value is the best it knows.
    return db.exec(R"sql(
        ALTER TABLE actions ADD COLUMN requested REAL;
        UPDATE actions SET requested = after;
        CREATE TABLE samples_1m(series_id INTEGER NOT NULL, t_ms INTEGER NOT NULL, min REAL NOT NULL,
                                mean REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
                                PRIMARY KEY(series_id, t_ms)) WITHOUT ROWID;
        CREATE TABLE request_energy(id TEXT PRIMARY KEY, model TEXT NOT NULL, gpu TEXT NOT NULL,
                                    start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
                                    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                                    joules REAL NOT NULL, idle_joules REAL NOT NULL,
                                    grams_co2 REAL NOT NULL);
        CREATE INDEX request_energy_end ON request_energy(end_ms);
        CREATE INDEX request_energy_model ON request_energy(model, end_ms);
        CREATE TABLE job_state(job_id TEXT PRIMARY KEY, state_json TEXT NOT NULL,
                               updated_ms INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE key_value(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    )sql");
}

// Moves every row of `samples` into `sample_blocks` (one row per series and minute), then drops
// `samples`. Streams in primary-key order, so memory holds one block at a time.
core::Result<void> migrate_2_to_3(Database& db) {
    if (auto created = db.exec(R"sql(
        CREATE TABLE sample_blocks(series_id INTEGER NOT NULL, minute_ms INTEGER NOT NULL,
                                   count INTEGER NOT NULL, points BLOB NOT NULL,
                                   PRIMARY KEY(series_id, minute_ms)) WITHOUT ROWID;
    )sql");
        !created) {
        return created;
    }
    auto rows = db.prepare("SELECT series_id, t_ms, value FROM samples ORDER BY series_id, t_ms");
    if (!rows) return tl::unexpected(rows.error());
    auto insert =
        db.prepare("INSERT INTO sample_blocks(series_id, minute_ms, count, points) VALUES (?, ?, ?, ?)");
    if (!insert) return tl::unexpected(insert.error());
    SeriesId series = 0;
    std::int64_t minute_ms = 0;
    std::vector<SamplePoint> points;
    std::vector<std::uint8_t> blob;
    const auto write_block = [&]() -> core::Result<void> {
        if (points.empty()) return {};
        encode_block(minute_ms, points, blob);
        insert->bind(1, series)
            .bind(2, minute_ms)
            .bind(3, static_cast<std::int64_t>(points.size()))
            .bind(4, blob);
        points.clear();
        return insert->run();
    };
    for (;;) {
        auto row = rows->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        const SeriesId id = rows->int64(0);
        const std::int64_t t_ms = rows->int64(1);
        if (t_ms < kEarliestSampleMs) {
            return core::fail("ledger " + db.path().string() + ": a sample of series " + std::to_string(id) +
                              " at t_ms " + std::to_string(t_ms) +
                              " is too early to store in a block (delete it with sqlite3 and migrate again)");
        }
        const std::int64_t minute = floor_minute(t_ms);
        if (id != series || minute != minute_ms) {
            if (auto written = write_block(); !written) return written;
            series = id;
            minute_ms = minute;
        }
        points.push_back(SamplePoint{t_ms, rows->real(2)});
    }
    if (auto written = write_block(); !written) return written;
    *rows = Statement();  // finalized before the table it reads is dropped
    return db.exec("DROP TABLE samples");
}

using Migration = std::function<core::Result<void>(Database&)>;

const std::vector<Migration>& migrations() {
    // migrations()[n] takes a file from version n to n + 1.
    static const std::vector<Migration> kMigrations{migrate_0_to_1, migrate_1_to_2, migrate_2_to_3};
    static_assert(kSchemaVersion == 3, "add the migration to the new version above");
    return kMigrations;
}

}  // namespace

const std::vector<std::string>& table_names() {
    // "samples" is the logical table of raw samples: the reader counts and exports it row per sample
    // from `sample_blocks`, so `ledger export --table samples` reads as it did before version 3.
    static const std::vector<std::string> kNames{"series",    "samples", "samples_1m",     "decisions",
                                                 "actions",   "audit",   "request_energy", "job_state",
                                                 "key_value", "meta"};
    return kNames;
}

core::Result<int> check_file(Database& db) {
    const auto where = "ledger " + db.path().string();
    auto version = db.scalar("PRAGMA user_version");
    if (!version) {
        if (db.last_failure() == Failure::not_a_database) {
            return core::fail(where +
                              ": not a SQLite database (is this the right file? point [ledger] path or "
                              "--ledger at a joulepilot ledger, or at a new file to create one)");
        }
        return tl::unexpected(version.error());
    }
    auto application = db.scalar("PRAGMA application_id");
    if (!application) return tl::unexpected(application.error());
    auto objects = db.scalar("SELECT count(*) FROM sqlite_schema");
    if (!objects) return tl::unexpected(objects.error());

    const auto file_version = static_cast<int>(version->value_or(0));
    if (application->value_or(0) != kApplicationId) {
        if (objects->value_or(0) == 0 && file_version == 0) return 0;  // an empty file: a new ledger
        return core::fail(where +
                          ": a SQLite database, but not a joulepilot ledger (no ledger application "
                          "id): point [ledger] path or --ledger at a ledger file, or at a new file");
    }
    if (file_version > kSchemaVersion) {
        return core::fail(where + ": schema version " + std::to_string(file_version) +
                          " was written by a newer joulepilot; this build reads up to version " +
                          std::to_string(kSchemaVersion) + ": upgrade joulepilot (the file was not changed)");
    }
    return file_version;
}

core::Result<void> migrate_to(Database& db, int target) {
    auto current = check_file(db);
    if (!current) return tl::unexpected(current.error());
    for (int version = *current; version < target; ++version) {
        if (auto begun = db.exec("BEGIN IMMEDIATE"); !begun) return begun;
        auto migrated = migrations().at(static_cast<std::size_t>(version))(db);
        if (migrated) {
            migrated = db.exec("PRAGMA application_id = " + std::to_string(kApplicationId) +
                               "; PRAGMA user_version = " + std::to_string(version + 1));
        }
        if (migrated) migrated = db.exec("COMMIT");
        if (!migrated) {
            (void)db.exec("ROLLBACK");
            return core::fail(migrated.error().message + " (migration to schema version " +
                              std::to_string(version + 1) + " failed; the file is unchanged)");
        }
    }
    return {};
}

}  // namespace joulepilot::ledger::detail
