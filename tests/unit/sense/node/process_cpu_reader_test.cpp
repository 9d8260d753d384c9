#include "sense/procfs/process_cpu_reader.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::TempTree;

std::string stat_line(int pid, std::string_view comm, std::uint64_t utime, std::uint64_t stime,
                      std::uint64_t start) {
    return fmt::format(
        "{} ({}) R 1 {} {} 0 -1 4194560 100 0 0 0 {} {} 0 0 20 0 1 0 {} 1000 10 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
        pid, comm, pid, pid, utime, stime, start);
}

TEST(ProcessStat, TakesTheCommandUpToTheLastParenthesis) {
    ProcessCpuTime p;
    ASSERT_TRUE(parse_process_stat(stat_line(42, "my (weird) proc", 1000, 250, 1200), p));
    EXPECT_EQ(p.pid, 42);
    EXPECT_EQ(p.comm, "my (weird) proc");
    EXPECT_EQ(p.cpu_ticks, 1250U);
    EXPECT_EQ(p.start_ticks, 1200U);
    ASSERT_TRUE(parse_process_stat(stat_line(7, ") R 1 2 3", 1, 2, 3), p));
    EXPECT_EQ(p.comm, ") R 1 2 3");
    EXPECT_EQ(p.cpu_ticks, 3U);
}

TEST(ProcessStat, RejectsMalformedText) {
    ProcessCpuTime p;
    EXPECT_FALSE(parse_process_stat("", p));
    EXPECT_FALSE(parse_process_stat("77 (broken) S 0 garbage\n", p));
    EXPECT_FALSE(parse_process_stat("x (a) S 0 1 1 0 -1 0 0 0 0 0 1 2 0 0 0 0 1 0 5\n", p));
    EXPECT_FALSE(parse_process_stat("5 (a) S 0 1 1 0 -1 0 0 0 0 0 1x 2 0 0 0 0 1 0 5\n", p));
    EXPECT_FALSE(parse_process_stat("5 (a S 0 1 1 0 -1 0 0 0 0 0 1 2 0 0 0 0 1 0 5\n", p));
}

TEST(ProcessCpuReader, ReadsEveryProcessAndSkipsWhatIsNotOne) {
    const TempTree tree("procfs/node");
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs);
    std::vector<ProcessCpuTime> out(5);  // stale content must be replaced
    ASSERT_TRUE(reader.read(out));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
    ASSERT_EQ(out.size(), 2U);  // 1 and 42; 77 is malformed, 100 has no stat, self is not a pid
    EXPECT_EQ(out[0].pid, 1);
    EXPECT_EQ(out[0].comm, "systemd");
    EXPECT_EQ(out[0].cpu_ticks, 230U);
    EXPECT_EQ(out[1].comm, "my (weird) proc");
    EXPECT_EQ(reader.stats().malformed, 1U);
}

TEST(ProcessCpuReader, NoProcDirectoryIsAnError) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs);
    std::vector<ProcessCpuTime> out;
    const auto r = reader.read(out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("list processes"), std::string::npos);
}

TEST(ProcessCpuReader, AThousandProcessesAreAllRead) {
    const TempTree tree;
    std::uint64_t expected = 0;
    for (int pid = 1; pid <= 1000; ++pid) {
        tree.write(fmt::format("proc/{}/stat", pid),
                   stat_line(pid, fmt::format("worker-{}", pid), pid, 2 * pid, pid));
        expected += 3U * static_cast<std::uint64_t>(pid);
    }
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs);
    std::vector<ProcessCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    ASSERT_EQ(out.size(), 1000U);
    const std::uint64_t sum =
        std::accumulate(out.begin(), out.end(), std::uint64_t{0},
                        [](std::uint64_t acc, const ProcessCpuTime& p) { return acc + p.cpu_ticks; });
    EXPECT_EQ(sum, expected);
}

// A tree of `count` processes with a /proc/loadavg whose last pid tests move to announce new processes.
void make_tree(const TempTree& tree, int count, std::string_view last_pid = "1000") {
    for (int pid = 1; pid <= count; ++pid) {
        tree.write(fmt::format("proc/{}/stat", pid), stat_line(pid, "w", 10, 0, 100));
    }
    tree.write("proc/loadavg", fmt::format("0.10 0.20 0.30 2/{} {}\n", count, last_pid));
}

std::uint64_t total_ticks(const std::vector<ProcessCpuTime>& v) {
    return std::accumulate(v.begin(), v.end(), std::uint64_t{0},
                           [](std::uint64_t acc, const ProcessCpuTime& p) { return acc + p.cpu_ticks; });
}

TEST(ProcessCpuReader, KeepsStatFilesOpenAndRereadsThem) {
    const TempTree tree;
    make_tree(tree, 20);
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs, ProcessCpuOptions{"proc", 0, 1, false});
    std::vector<ProcessCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    tree.write("proc/7/stat", stat_line(7, "w", 35, 5, 100));  // rewritten in place, as procfs does
    ASSERT_TRUE(reader.read(out));
    ASSERT_EQ(out.size(), 20U);
    EXPECT_EQ(out[6].pid, 7);
    EXPECT_EQ(out[6].cpu_ticks, 40U);
    EXPECT_EQ(reader.stats().opens, 20U);  // once each, not once per read
    EXPECT_EQ(reader.stats().stat_reads, 40U);
    EXPECT_EQ(reader.open_files(), 20U);
    EXPECT_EQ(reader.stats().listings, 1U);  // the last pid did not move
}

TEST(ProcessCpuReader, ReadsEveryProcessBeyondTheDescriptorBudget) {
    const TempTree tree;
    make_tree(tree, 20);
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs, ProcessCpuOptions{"proc", 5, 1, false});
    std::vector<ProcessCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    ASSERT_TRUE(reader.read(out));
    EXPECT_EQ(out.size(), 20U);
    EXPECT_EQ(total_ticks(out), 200U);
    EXPECT_EQ(reader.open_files(), 5U);
}

TEST(ProcessCpuReader, ListsAgainOnlyWhenAPidWasAllocated) {
    const TempTree tree;
    make_tree(tree, 3);
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs, ProcessCpuOptions{"proc", 0, 1, false});
    std::vector<ProcessCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    tree.write("proc/4/stat", stat_line(4, "new", 1, 1, 500));
    ASSERT_TRUE(reader.read(out));
    EXPECT_EQ(out.size(), 3U);  // the kernel would have moved the last pid: nothing to look for
    tree.write("proc/loadavg", "0.10 0.20 0.30 2/4 1001\n");
    ASSERT_TRUE(reader.read(out));
    ASSERT_EQ(out.size(), 4U);
    EXPECT_EQ(out[3].comm, "new");
    EXPECT_EQ(reader.stats().listings, 2U);

    ProcessCpuReader always(fs, ProcessCpuOptions{"proc", 0, 1, true});
    ASSERT_TRUE(always.read(out));
    ASSERT_TRUE(always.read(out));
    EXPECT_EQ(always.stats().listings, 2U);
}

TEST(ProcessCpuReader, DropsExitedProcessesAndClosesTheirFiles) {
    const TempTree tree;
    make_tree(tree, 3);
    tree.remove("proc/loadavg");  // unknown last pid: list on every read
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs, ProcessCpuOptions{"proc", 0, 1, false});
    std::vector<ProcessCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    EXPECT_EQ(reader.open_files(), 3U);
    tree.remove("proc/2");
    ASSERT_TRUE(reader.read(out));
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[1].pid, 3);
    EXPECT_EQ(reader.open_files(), 2U);
}

TEST(ProcessCpuReader, IdleProcessesAreReadLessOftenAndLoseNoCpuTime) {
    const TempTree tree;
    make_tree(tree, 40);
    const core::RootedFs fs(tree.root());
    ProcessCpuReader reader(fs, ProcessCpuOptions{"proc", 0, 4, false});
    ProcessCpuTracker tracker(100);
    std::vector<ProcessCpuTime> out;
    std::vector<ProcessCpuUse> use;
    ASSERT_TRUE(reader.read(out));
    tracker.update(out, use);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader.read(out));  // now every process is idle
    const std::uint64_t before = reader.stats().stat_reads;
    ASSERT_TRUE(reader.read(out));
    EXPECT_EQ(reader.stats().stat_reads - before, 10U);  // a quarter of them
    EXPECT_EQ(out.size(), 40U);                          // the others are carried, not lost
    // A sleeper wakes: its CPU time shows within 4 reads, all of it.
    tree.write("proc/13/stat", stat_line(13, "w", 10 + 250, 0, 100));
    double seen = 0;
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(reader.read(out));
        tracker.update(out, use);
        for (const auto& u : use) seen += u.cpu.value();
    }
    EXPECT_DOUBLE_EQ(seen, 2.5);
}

TEST(ProcessCpuTracker, GivesEachProcessItsCpuTimeOfTheInterval) {
    ProcessCpuTracker tracker(100);
    std::vector<ProcessCpuUse> use;
    std::vector<ProcessCpuTime> snap = {{10, 5, 100, "a"}, {20, 6, 50, "b"}, {30, 7, 10, "gone"}};
    tracker.update(snap, use);
    EXPECT_TRUE(use.empty());  // baseline
    EXPECT_TRUE(tracker.has_baseline());
    // Unordered on purpose; pid 20 was reused (new start time); 30 exited; 40 is new; 10 did nothing more.
    snap = {{40, 9, 30, "new"}, {20, 8, 20, "b2"}, {10, 5, 100, "a"}};
    tracker.update(snap, use);
    ASSERT_EQ(use.size(), 2U);
    EXPECT_EQ(use[0].pid, 20);
    EXPECT_EQ(use[0].comm, "b2");
    EXPECT_DOUBLE_EQ(use[0].cpu.value(), 0.2);  // all of the new process's 20 ticks
    EXPECT_EQ(use[1].pid, 40);
    EXPECT_DOUBLE_EQ(use[1].cpu.value(), 0.3);
    // The caller's vector now holds the previous snapshot, ready for reuse.
    EXPECT_EQ(snap.size(), 3U);
    snap = {{10, 5, 150, "a"}, {20, 8, 10, "b2"}};  // 20 went backwards: a bad read, worth nothing
    tracker.update(snap, use);
    ASSERT_EQ(use.size(), 1U);
    EXPECT_EQ(use[0].pid, 10);
    EXPECT_DOUBLE_EQ(use[0].cpu.value(), 0.5);
}

}  // namespace
}  // namespace joulepilot::sense
