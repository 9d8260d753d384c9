// Schema versions and migrations: version-1 and version-2 files made here (the way those releases wrote
// them) are upgraded on open with their rows intact (version 3 moves raw samples into minute blocks);
// foreign, newer and unreadable files are refused with a message naming the file and the fix.

#include "ledger/schema.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::RawConnection;
using testing::TempFolder;
using testing::test_options;

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A version-1 ledger with one row in each of its tables, written with plain SQL like release 1 did.
void make_v1_file(const std::filesystem::path& path) {
    {
        auto db = detail::Database::open(path, detail::Database::Mode::read_write_create);
        ASSERT_TRUE(db) << db.error().message;
        ASSERT_TRUE(detail::migrate_to(*db, 1));
    }
    RawConnection raw(path);
    raw.exec_or_fail(
        "INSERT INTO series(id, name, unit, provenance) VALUES (1, 'gpu.0.power_watts', 'W', 'measured')");
    raw.exec_or_fail("INSERT INTO samples VALUES (1, 60000, 300.5), (1, 61000, 310.0)");
    raw.exec_or_fail(
        "INSERT INTO decisions(t_ms, policy, rationale, predicted_json, settings_json) "
        "VALUES (60000, 'threshold', 'load low', '{}', '[]')");
    raw.exec_or_fail(
        "INSERT INTO actions(t_ms, knob, target, before, after, outcome, policy, reason) "
        "VALUES (61000, 'gpu.0.power_limit_watts', 'gpu0', 700, 500, 'applied', 'threshold', 'cap')");
    const auto body = nlohmann::json{{"knob", "gpu.0.power_limit_watts"}};
    const auto hash = chain_hash(kGenesisHash, canonical_audit_body(61000, "action", body));
    raw.exec_or_fail("INSERT INTO audit VALUES (1, 61000, 'action', '" + body.dump() + "', '" + kGenesisHash +
                     "', '" + hash + "')");
}

TEST(LedgerSchema, VersionOneFileIsUpgradedWithItsRowsIntact) {
    TempFolder folder;
    const auto path = folder.file("v1.db");
    make_v1_file(path);
    {
        auto db = detail::Database::open(path, detail::Database::Mode::read_only);
        ASSERT_TRUE(db);
        EXPECT_EQ(detail::check_file(*db).value_or(-1), 1);
    }
    // The reader will not read an old schema, and says how to upgrade.
    auto old_reader = LedgerReader::open(path);
    ASSERT_FALSE(old_reader);
    EXPECT_TRUE(contains(old_reader.error().message, "ledger migrate")) << old_reader.error().message;

    auto ledger = open_or_die(test_options(path));
    const auto& reader = ledger->reader();
    auto info = reader.info();
    ASSERT_TRUE(info);
    EXPECT_EQ(info->schema_version, kSchemaVersion);
    auto samples = reader.samples("gpu.0.power_watts", 0, 100'000);
    ASSERT_TRUE(samples);
    EXPECT_EQ(*samples, (std::vector<SamplePoint>{{60000, 300.5}, {61000, 310.0}}));
    auto decisions = reader.decisions(0);
    ASSERT_TRUE(decisions);
    EXPECT_EQ(*decisions, (std::vector<DecisionRecord>{{60000, "threshold", "load low", "{}", "[]"}}));
    // Version 1 did not keep the requested value; the migration fills in the applied one.
    auto actions = reader.actions(0);
    ASSERT_TRUE(actions);
    ASSERT_EQ(actions->size(), 1U);
    EXPECT_EQ(actions->front().requested, 500.0);
    EXPECT_EQ(actions->front().before, 700.0);
    // New tables work, the old series keeps its id, and the chain continues from the old head.
    const auto id = ledger->series({"gpu.0.power_watts", "W", "measured"});
    EXPECT_EQ(id, 1);
    ASSERT_TRUE(ledger->append(
        RequestEnergyRecord{"r1", "llama", "gpu0", 0, 10, 5, 7, core::Joules(3), core::Joules(1), 0.1}));
    ASSERT_TRUE(ledger->append_audit(62000, "action", nlohmann::json{{"knob", "x"}}));
    ASSERT_TRUE(ledger->flush());
    auto verdict = reader.verify_audit();
    ASSERT_TRUE(verdict);
    EXPECT_TRUE(verdict->intact()) << verdict->message;
    EXPECT_EQ(verdict->last_seq, 2);
    EXPECT_TRUE(reader.request_energy("r1").value().has_value());
}

// A version-2 ledger (one row per raw sample) with samples on both sides of minute edges, before 1970,
// and in two series.
std::vector<Sample> make_v2_file(const std::filesystem::path& path) {
    {
        auto db = detail::Database::open(path, detail::Database::Mode::read_write_create);
        EXPECT_TRUE(db) << db.error().message;
        EXPECT_TRUE(detail::migrate_to(*db, 2));
    }
    std::vector<Sample> samples;
    for (std::int64_t s = -70; s < 130; s += 3)
        samples.push_back({1, s * 1000 + 7, 0.5 * static_cast<double>(s)});
    samples.push_back({1, 59'999, 1e300});
    samples.push_back({1, 60'000, -1.5});
    for (std::int64_t s = 0; s < 5; ++s)
        samples.push_back({2, 1'700'000'000'000 + s, static_cast<double>(s)});
    RawConnection raw(path);
    raw.exec_or_fail(
        "INSERT INTO series(id, name, unit, provenance) VALUES (1, 'gpu.0.power_watts', 'W', 'measured'), "
        "(2, 'cpu.power_watts', 'W', 'estimated')");
    raw.exec_or_fail("BEGIN");
    for (const auto& sample : samples) {
        char row[128];
        std::snprintf(row, sizeof row, "INSERT INTO samples VALUES (%lld, %lld, %.17g)",
                      static_cast<long long>(sample.series), static_cast<long long>(sample.t_ms),
                      sample.value);
        raw.exec_or_fail(row);
    }
    raw.exec_or_fail("COMMIT");
    return samples;
}

TEST(LedgerSchema, VersionTwoSamplesMoveIntoMinuteBlocks) {
    TempFolder folder;
    const auto path = folder.file("v2.db");
    const auto samples = make_v2_file(path);
    ASSERT_EQ(migrate_file(path).value_or(-1), kSchemaVersion);

    auto reader = LedgerReader::open(path);
    ASSERT_TRUE(reader) << reader.error().message;
    for (const auto& [id, name] : {std::pair{1, "gpu.0.power_watts"}, std::pair{2, "cpu.power_watts"}}) {
        std::map<std::int64_t, double> want;
        for (const auto& sample : samples) {
            if (sample.series == id) want[sample.t_ms] = sample.value;
        }
        const auto got = (*reader)->samples(name, INT64_MIN, INT64_MAX).value();
        ASSERT_EQ(got.size(), want.size()) << name;
        auto expected = want.begin();
        for (const auto& point : got) {
            EXPECT_EQ(point.t_ms, expected->first);
            EXPECT_EQ(point.value, expected->second);
            ++expected;
        }
    }
    const auto info = (*reader)->info().value();
    for (const auto& table : info.tables) {
        if (table.name == "samples") {
            EXPECT_EQ(table.rows, static_cast<std::int64_t>(samples.size()));
        }
    }
    auto db = detail::Database::open(path, detail::Database::Mode::read_only);
    ASSERT_TRUE(db);
    // -70 s .. 130 s touches the minutes -2, -1, 0, 1 and 2; the second series one minute.
    EXPECT_EQ(db->scalar("SELECT count(*) FROM sample_blocks WHERE series_id = 1").value().value_or(-1), 5);
    EXPECT_EQ(db->scalar("SELECT count(*) FROM sample_blocks WHERE series_id = 2").value().value_or(-1), 1);
    EXPECT_EQ(db->scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'samples'").value().value_or(-1),
              0);

    // The agent carries on writing into the migrated blocks.
    reader->reset();
    auto ledger = open_or_die(test_options(path));
    ASSERT_TRUE(ledger->append(Sample{1, 60'001, 42.0}));
    ASSERT_TRUE(ledger->flush());
    const auto minute = ledger->reader().samples("gpu.0.power_watts", 60'000, 120'000).value();
    ASSERT_GE(minute.size(), 3U);
    EXPECT_EQ(minute[0], (SamplePoint{60'000, -1.5}));
    EXPECT_EQ(minute[1], (SamplePoint{60'001, 42.0}));
    EXPECT_EQ(minute[2].t_ms, 62'007);
}

TEST(LedgerSchema, MigrateFileUpgradesAndIsIdempotent) {
    TempFolder folder;
    const auto path = folder.file("v1.db");
    make_v1_file(path);
    EXPECT_EQ(migrate_file(path).value_or(-1), kSchemaVersion);
    EXPECT_EQ(migrate_file(path).value_or(-1), kSchemaVersion);
    auto reader = LedgerReader::open(path);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->info().value().schema_version, kSchemaVersion);
}

TEST(LedgerSchema, NewerSchemaIsRefusedAndLeftUnchanged) {
    TempFolder folder;
    const auto path = folder.file("future.db");
    { open_or_die(test_options(path)); }
    {
        RawConnection raw(path);
        raw.exec_or_fail("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
    }
    auto ledger = Ledger::open(test_options(path));
    ASSERT_FALSE(ledger);
    EXPECT_TRUE(contains(ledger.error().message, path.string())) << ledger.error().message;
    EXPECT_TRUE(contains(ledger.error().message, "newer joulepilot")) << ledger.error().message;
    auto reader = LedgerReader::open(path);
    ASSERT_FALSE(reader);
    EXPECT_TRUE(contains(reader.error().message, "upgrade joulepilot")) << reader.error().message;
}

TEST(LedgerSchema, ForeignSqliteFileIsRefused) {
    TempFolder folder;
    const auto path = folder.file("other.db");
    {
        RawConnection raw(path);
        raw.exec_or_fail("CREATE TABLE customers(id INTEGER)");
    }
    auto ledger = Ledger::open(test_options(path));
    ASSERT_FALSE(ledger);
    EXPECT_TRUE(contains(ledger.error().message, "not a joulepilot ledger")) << ledger.error().message;
    EXPECT_TRUE(contains(ledger.error().message, path.string()));
}

TEST(LedgerSchema, FileThatIsNotSqliteIsRefused) {
    TempFolder folder;
    const auto path = folder.file("notes.txt");
    std::ofstream(path) << "this is a text file, long enough to have a header that SQLite will reject.\n"
                        << std::string(200, 'x');
    auto ledger = Ledger::open(test_options(path));
    ASSERT_FALSE(ledger);
    EXPECT_TRUE(contains(ledger.error().message, "not a SQLite database")) << ledger.error().message;
    auto reader = LedgerReader::open(path);
    ASSERT_FALSE(reader);
    EXPECT_TRUE(contains(reader.error().message, "not a SQLite database")) << reader.error().message;
}

TEST(LedgerSchema, MissingFolderAndMissingFileSayWhatToDo) {
    TempFolder folder;
    auto ledger = Ledger::open(test_options(folder.file("no/such/dir/l.db")));
    ASSERT_FALSE(ledger);
    EXPECT_TRUE(contains(ledger.error().message, "does not exist")) << ledger.error().message;
    auto reader = LedgerReader::open(folder.file("absent.db"));
    ASSERT_FALSE(reader);
    EXPECT_TRUE(contains(reader.error().message, "no such file")) << reader.error().message;
}

TEST(LedgerSchema, UnwritableFolderIsReportedAsPermission) {
    if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
    TempFolder folder;
    const auto locked = folder.file("locked");
    std::filesystem::create_directory(locked);
    ::chmod(locked.c_str(), 0500);
    auto ledger = Ledger::open(test_options(locked / "l.db"));
    ::chmod(locked.c_str(), 0700);
    ASSERT_FALSE(ledger);
    EXPECT_TRUE(contains(ledger.error().message, "writable")) << ledger.error().message;
}

}  // namespace
}  // namespace joulepilot::ledger
