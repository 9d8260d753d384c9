// The writer thread under stress: back-pressure with a tiny queue (drops counted, audit entries get a
// reserve and their loss is written into the chain), a database locked by another connection (errors
// counted, then recovery), and a crash (SIGKILL of a child process mid-write: everything it was told
// was committed is there after reopening, and the audit chain verifies).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::RawConnection;
using testing::TempFolder;
using testing::test_options;

// Polls `condition` for up to 10 s (an upper bound for a stuck writer, not a timing assertion).
template <class Condition>
bool eventually(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

TEST(LedgerWriter, FullQueueDropsAndCountsWithoutBlocking) {
    TempFolder folder;
    auto options = test_options(folder.file("l.db"));
    options.queue_capacity = 16;
    options.busy_timeout = std::chrono::milliseconds(10);
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    ASSERT_TRUE(ledger->flush());

    // Another connection holds the write lock, so nothing can drain: exactly 16 fit.
    RawConnection blocker(folder.file("l.db"));
    blocker.exec_or_fail("BEGIN EXCLUSIVE");
    int accepted = 0;
    for (int i = 0; i < 100; ++i) accepted += ledger->append(Sample{id, i, 1.0}) ? 1 : 0;
    EXPECT_EQ(accepted, 16);
    // A batch that does not fit is refused whole.
    const std::vector<Sample> batch{{id, 200, 1.0}, {id, 201, 1.0}};
    EXPECT_FALSE(ledger->append(batch));
    auto stats = ledger->stats();
    EXPECT_EQ(stats.dropped, 86U);
    EXPECT_EQ(stats.queue_depth, 16U);
    EXPECT_EQ(stats.queue_capacity, 16U);

    // Audit entries still fit in their reserve (64 for a tiny queue); beyond it they are lost too.
    int audit_accepted = 0;
    for (int i = 0; i < 67; ++i) {
        audit_accepted += ledger->append_audit(i, "action", nlohmann::json{{"i", i}}) ? 1 : 0;
    }
    EXPECT_EQ(audit_accepted, 64);
    EXPECT_EQ(ledger->stats().dropped_audit, 3U);

    blocker.exec_or_fail("COMMIT");
    ASSERT_TRUE(ledger->flush());
    stats = ledger->stats();
    EXPECT_EQ(stats.queue_depth, 0U);
    EXPECT_EQ(stats.written, 1U + 16U + 64U);  // the series row, the samples, the audit entries
    EXPECT_EQ(ledger->reader().samples("x", 0, 1000).value().size(), 16U);
    // The loss is in the chain itself, and the chain is intact.
    const auto audit = ledger->reader().audit(INT64_MIN).value();
    ASSERT_EQ(audit.size(), 65U);
    const auto lost =
        std::find_if(audit.begin(), audit.end(), [](const auto& e) { return e.kind == "audit.lost"; });
    ASSERT_NE(lost, audit.end());
    EXPECT_EQ(lost->body["entries"], 3);
    EXPECT_TRUE(ledger->reader().verify_audit().value().intact());
}

TEST(LedgerWriter, LockedDatabaseCountsErrorsThenRecovers) {
    TempFolder folder;
    auto options = test_options(folder.file("l.db"));
    options.busy_timeout = std::chrono::milliseconds(10);
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    ASSERT_TRUE(ledger->flush());

    RawConnection blocker(folder.file("l.db"));
    blocker.exec_or_fail("BEGIN EXCLUSIVE");
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(ledger->append(Sample{id, i, static_cast<double>(i)}));
    ASSERT_TRUE(ledger->append_audit(1, "action", nlohmann::json{{"k", 1}}));
    ASSERT_TRUE(eventually([&] { return ledger->stats().write_errors >= 2; }));
    auto stats = ledger->stats();
    EXPECT_FALSE(stats.healthy);
    EXPECT_NE(stats.last_error.find("locked"), std::string::npos) << stats.last_error;
    EXPECT_NE(stats.last_error.find("l.db"), std::string::npos) << stats.last_error;
    EXPECT_EQ(stats.queue_depth, 51U);
    // A flush with a short limit says what is wrong instead of hanging.
    auto flushed = ledger->flush(std::chrono::milliseconds(20));
    ASSERT_FALSE(flushed);
    EXPECT_NE(flushed.error().message.find("not committed"), std::string::npos) << flushed.error().message;
    // Reads still work while another connection writes (WAL).
    EXPECT_TRUE(ledger->reader().series());

    blocker.exec_or_fail("ROLLBACK");
    ASSERT_TRUE(ledger->flush());
    stats = ledger->stats();
    EXPECT_TRUE(stats.healthy);
    EXPECT_EQ(stats.queue_depth, 0U);
    EXPECT_EQ(stats.dropped, 0U);
    const auto got = ledger->reader().samples("x", 0, 100).value();
    ASSERT_EQ(got.size(), 50U);
    EXPECT_EQ(got.back(), (SamplePoint{49, 49.0}));
    EXPECT_TRUE(ledger->reader().verify_audit().value().intact());
}

// A full disk, made reproducible with the size cap (SQLite fails the commit with SQLITE_FULL exactly as
// when the file system is full): errors are counted and reported, nothing queued is lost, and the writer
// recovers once room is freed (here by deleting old blocks from another connection).
TEST(LedgerWriter, FullDiskCountsErrorsKeepsTheQueueThenRecovers) {
    TempFolder folder;
    auto options = test_options(folder.file("l.db"));
    options.max_size_mib = 1;
    auto ledger = open_or_die(options);
    const auto id = ledger->series({"x", "W", "measured"});
    ASSERT_TRUE(ledger->flush());

    // 100,000 one-second samples need ~1,700 minute blocks, well over 1 MiB.
    constexpr std::int64_t kSamples = 100'000;
    for (std::int64_t i = 0; i < kSamples; ++i) {
        ASSERT_TRUE(ledger->append(Sample{id, i * 1000, static_cast<double>(i)}));
    }
    ASSERT_TRUE(eventually([&] { return ledger->stats().write_errors >= 1; }));
    auto stats = ledger->stats();
    EXPECT_FALSE(stats.healthy);
    EXPECT_NE(stats.last_error.find("full"), std::string::npos) << stats.last_error;
    EXPECT_NE(stats.last_error.find("l.db"), std::string::npos) << stats.last_error;
    EXPECT_GT(stats.queue_depth, 0U);
    EXPECT_EQ(stats.dropped, 0U);

    // Room comes back: the first 1,000 minutes are deleted (as retention would).
    constexpr std::int64_t kFreedBeforeMs = 1000 * 60'000;
    RawConnection(folder.file("l.db")).exec_or_fail("DELETE FROM sample_blocks WHERE minute_ms < " +
                                                    std::to_string(kFreedBeforeMs));
    ASSERT_TRUE(ledger->flush());
    stats = ledger->stats();
    EXPECT_TRUE(stats.healthy);
    EXPECT_EQ(stats.queue_depth, 0U);
    const auto got = ledger->reader().samples("x", kFreedBeforeMs, kSamples * 1000).value();
    EXPECT_EQ(static_cast<std::int64_t>(got.size()), kSamples - kFreedBeforeMs / 1000);
    EXPECT_EQ(got.back(), (SamplePoint{(kSamples - 1) * 1000, static_cast<double>(kSamples - 1)}));
}

TEST(LedgerWriter, CloseFlushesWhatIsQueued) {
    TempFolder folder;
    {
        auto options = test_options(folder.file("l.db"));
        options.batch_interval = std::chrono::milliseconds(10'000);  // only the close can commit in time
        auto ledger = open_or_die(options);
        const auto id = ledger->series({"x", "W", "measured"});
        for (int i = 0; i < 1000; ++i) ASSERT_TRUE(ledger->append(Sample{id, i, 1.0}));
    }
    auto reader = LedgerReader::open(folder.file("l.db"));
    ASSERT_TRUE(reader);
    EXPECT_EQ((*reader)->samples("x", 0, 10'000).value().size(), 1000U);
}

// Child: writes batches as fast as it can; after each flush() it reports the batch id on the pipe.
[[noreturn]] void crash_child(const std::filesystem::path& path, int report_fd) {
    auto opened = Ledger::open(test_options(path));
    if (!opened) ::_exit(3);
    auto& ledger = **opened;
    const auto id = ledger.series({"x", "W", "measured"});
    constexpr int kPerBatch = 2000;
    std::vector<Sample> samples(kPerBatch);
    for (std::int64_t batch = 0;; ++batch) {
        for (int i = 0; i < kPerBatch; ++i)
            samples[i] = Sample{id, batch * kPerBatch + i, static_cast<double>(batch)};
        ledger.append(samples);
        ledger.append(DecisionRecord{batch, "p", "batch " + std::to_string(batch), "{}", "[]"});
        ledger.append_audit(batch, "batch", nlohmann::json{{"batch", batch}});
        if (!ledger.flush()) ::_exit(4);
        if (::write(report_fd, &batch, sizeof batch) != sizeof batch) ::_exit(5);
    }
}

TEST(LedgerWriter, KillDuringHeavyWritesLosesNothingCommitted) {
    TempFolder folder;
    const auto path = folder.file("crash.db");
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(fds[0]);
        crash_child(path, fds[1]);
    }
    ::close(fds[1]);
    std::int64_t last_reported = -1;
    std::int64_t batch = 0;
    while (last_reported < 15 && ::read(fds[0], &batch, sizeof batch) == sizeof batch) last_reported = batch;
    ::kill(child, SIGKILL);
    // Batches reported before the kill landed may still be in the pipe.
    while (::read(fds[0], &batch, sizeof batch) == sizeof batch) last_reported = batch;
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
    ASSERT_GE(last_reported, 15);

    // Reopen as the next agent start would (recovering the WAL), then check every reported batch.
    auto ledger = open_or_die(test_options(path));
    const auto& reader = ledger->reader();
    const auto samples = reader.samples("x", 0, (last_reported + 1) * 2000).value();
    ASSERT_EQ(samples.size(), static_cast<std::size_t>((last_reported + 1) * 2000));
    for (std::size_t i = 0; i < samples.size(); ++i) {
        ASSERT_EQ(samples[i].t_ms, static_cast<std::int64_t>(i));
        ASSERT_EQ(samples[i].value, static_cast<double>(static_cast<std::int64_t>(i) / 2000));
    }
    EXPECT_GE(reader.decisions(0).value().size(), static_cast<std::size_t>(last_reported + 1));
    const auto verdict = reader.verify_audit().value();
    EXPECT_TRUE(verdict.intact()) << verdict.message;
    EXPECT_GE(verdict.last_seq, last_reported + 1);
    // And the chain goes on from where the dead process left it.
    ASSERT_TRUE(ledger->commit_audit(0, "start", nlohmann::json::object()));
    EXPECT_TRUE(reader.verify_audit().value().intact());
}

}  // namespace
}  // namespace joulepilot::ledger
