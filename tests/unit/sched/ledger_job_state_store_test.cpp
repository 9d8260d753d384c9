// LedgerJobStateStore (ledger_job_state_store.cpp): states round-trip through a real ledger file and survive
// closing and reopening it, namespaces (scopes) stay apart, a read-only store refuses to write, a corrupt
// row is an error naming it, and importing an earlier JSON state file never imports an id twice.

#include <filesystem>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "ledger/ledger.hpp"
#include "sched/ledger_job_state_store.hpp"

namespace joulepilot::sched {
namespace {

using ::testing::HasSubstr;

JobState sample(const std::string& id, int releases) {
    JobState s;
    s.id = id;
    s.ns = "batch";
    s.kube_name = "jp-" + id;
    s.created = true;
    s.releases = releases;
    s.created_unix_s = 1685577600;
    if (releases > 0) s.released_unix_s = 1685581200.5;
    s.status = releases > 0 ? "released" : "created";
    s.message = "msg \"quoted\"";
    return s;
}

struct TempLedger {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("jp-ledger-state-" + std::to_string(::getpid()) + "-" +
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    core::ManualClock clock{core::Seconds(1685577600)};
    TempLedger() { std::filesystem::create_directories(dir); }
    ~TempLedger() { std::filesystem::remove_all(dir); }
    [[nodiscard]] std::filesystem::path path() const { return dir / "ledger.db"; }
    [[nodiscard]] std::unique_ptr<ledger::Ledger> open() const {
        ledger::LedgerOptions options;
        options.path = path();
        options.compaction_interval = core::Seconds(0);
        auto opened = ledger::Ledger::open(options);
        if (!opened) throw std::runtime_error(opened.error().message);
        return std::move(*opened);
    }
};

TEST(LedgerJobStateStore, RoundTripsAndSurvivesReopeningTheLedger) {
    TempLedger t;
    {
        auto ledger = t.open();
        LedgerJobStateStore store(*ledger, t.clock, kube_scope("batch"));
        EXPECT_TRUE(store.load()->empty());
        ASSERT_TRUE(store.save(sample("a", 0)).has_value());
        ASSERT_TRUE(store.save(sample("b", 0)).has_value());
        ASSERT_TRUE(store.save(sample("a", 1)).has_value());  // replaces a's row
        const auto row = ledger->reader().job_state("kube/batch/a");
        ASSERT_TRUE(row.has_value() && row->has_value());
        EXPECT_EQ((*row)->updated_ms, 1685577600000);
    }
    auto ledger = t.open();
    LedgerJobStateStore store(*ledger, t.clock, kube_scope("batch"));
    const auto states = store.load();
    ASSERT_TRUE(states.has_value()) << states.error().message;
    ASSERT_EQ(states->size(), 2U);
    EXPECT_EQ((*states)[0], sample("a", 1));
    EXPECT_EQ((*states)[1], sample("b", 0));
}

TEST(LedgerJobStateStore, NamespacesStayApart) {
    TempLedger t;
    auto ledger = t.open();
    LedgerJobStateStore batch(*ledger, t.clock, kube_scope("batch"));
    LedgerJobStateStore other(*ledger, t.clock, kube_scope("other"));
    ASSERT_TRUE(batch.save(sample("a", 1)).has_value());
    JobState mine = sample("a", 0);
    mine.ns = "other";
    ASSERT_TRUE(other.save(mine).has_value());
    EXPECT_EQ(batch.load()->at(0).releases, 1);
    ASSERT_EQ(other.load()->size(), 1U);
    EXPECT_EQ(other.load()->at(0).releases, 0);
}

TEST(LedgerJobStateStore, ReadOnlyStoreReadsButRefusesToWrite) {
    TempLedger t;
    {
        auto ledger = t.open();
        LedgerJobStateStore store(*ledger, t.clock, kube_scope("batch"));
        ASSERT_TRUE(store.save(sample("a", 1)).has_value());
    }
    auto reader = ledger::LedgerReader::open(t.path());
    ASSERT_TRUE(reader.has_value()) << reader.error().message;
    LedgerJobStateStore store(**reader, kube_scope("batch"));
    ASSERT_EQ(store.load()->size(), 1U);
    const auto saved = store.save(sample("b", 0));
    ASSERT_FALSE(saved.has_value());
    EXPECT_THAT(saved.error().message, HasSubstr("read-only"));
}

TEST(LedgerJobStateStore, ACorruptRowIsAnErrorNamingIt) {
    TempLedger t;
    auto ledger = t.open();
    ASSERT_TRUE(ledger->commit(ledger::JobStateRecord{"kube/batch/x", "{not json", 0}).has_value());
    LedgerJobStateStore store(*ledger, t.clock, kube_scope("batch"));
    const auto loaded = store.load();
    ASSERT_FALSE(loaded.has_value());
    EXPECT_THAT(loaded.error().message, HasSubstr("kube/batch/x"));
    // A row of another scope is not this store's business, corrupt or not.
    LedgerJobStateStore other(*ledger, t.clock, kube_scope("other"));
    EXPECT_TRUE(other.load().has_value());
}

TEST(LedgerJobStateStore, ImportSkipsIdsTheLedgerHolds) {
    TempLedger t;
    auto ledger = t.open();
    LedgerJobStateStore store(*ledger, t.clock, kube_scope("batch"));
    ASSERT_TRUE(store.save(sample("a", 2)).has_value());
    const std::vector<JobState> legacy{sample("a", 1), sample("b", 1)};
    const auto imported = store.import(legacy);
    ASSERT_TRUE(imported.has_value()) << imported.error().message;
    EXPECT_EQ(*imported, 1U);
    EXPECT_EQ(*store.import(legacy), 0U);
    const auto states = store.load();
    ASSERT_EQ(states->size(), 2U);
    EXPECT_EQ((*states)[0].releases, 2);  // the ledger's newer state of a is kept
    EXPECT_EQ((*states)[1], sample("b", 1));
}

}  // namespace
}  // namespace joulepilot::sched
