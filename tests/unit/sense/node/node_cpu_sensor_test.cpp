#include "sense/procfs/node_cpu_sensor.hpp"

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::TempTree;

TEST(ProcStat, ParsesTheAggregateLineNotAPerCpuOne) {
    const auto t = parse_proc_stat("cpu0 1 1 1 1\ncpu  1000 20 300 5000 100 10 5 50 0 0\n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->user, 1000U);
    EXPECT_EQ(t->steal, 50U);
    EXPECT_EQ(t->busy(), 1000U + 20 + 300 + 10 + 5);
    EXPECT_EQ(t->idle_all(), 5100U);
}

TEST(ProcStat, OldKernelsWithFourFieldsStillParse) {
    const auto t = parse_proc_stat("cpu  10 0 5 100\n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->busy(), 15U);
    EXPECT_EQ(t->iowait, 0U);
}

TEST(ProcStat, RejectsGarbage) {
    EXPECT_FALSE(parse_proc_stat(""));
    EXPECT_FALSE(parse_proc_stat("intr 1 2 3\n"));
    EXPECT_FALSE(parse_proc_stat("cpu  10 x 5 100\n"));
    EXPECT_FALSE(parse_proc_stat("cpu  10 5\n"));
    EXPECT_FALSE(parse_proc_stat("cpu  10 -5 5 100\n"));
}

TEST(ProcStat, UtilisationIsBusyOverBusyPlusIdleWithStealLeftOut) {
    const CpuTimes before{100, 0, 0, 900, 0, 0, 0, 0};
    const CpuTimes after{150, 0, 0, 1050, 0, 0, 0, 400};  // +50 busy, +150 idle, +400 steal
    EXPECT_DOUBLE_EQ(cpu_utilization(before, after).value(), 0.25);
    EXPECT_FALSE(cpu_utilization(before, before));  // no tick elapsed
    EXPECT_FALSE(cpu_utilization(after, before));   // backwards
}

TEST(NodeCpuSensor, ReportsBusySecondsAndIntervalUtilisation) {
    const TempTree tree("procfs/node");
    const core::RootedFs fs(tree.root());
    NodeCpuSensor sensor(fs, NodeCpuOptions{"proc", 100});
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 2U);
    EXPECT_EQ(signals[0].name, "node.cpu_busy_seconds_total");
    EXPECT_EQ(signals[0].provenance, Provenance::measured);
    EXPECT_EQ(signals[1].name, "node.cpu_utilization_ratio");
    EXPECT_EQ(signals[1].provenance, Provenance::derived);

    std::vector<Sample> s(2);
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[0].value, 13.35);  // (1000 + 20 + 300 + 10 + 5) ticks / 100
    EXPECT_FALSE(s[1].valid);             // no tick since discovery: unknown, not 0
    tree.write("proc/stat", "cpu  1060 20 330 5140 110 15 10 60 0 0\n");  // +100 busy, +150 idle
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[1].value, 0.4);
    EXPECT_DOUBLE_EQ(sensor.last_utilization().value(), 0.4);
}

TEST(NodeCpuSensor, MissingProcIsUnavailableAndAReadError) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    NodeCpuSensor sensor(fs);
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_NE(sensor.unavailable()[0].reason.find("not present"), std::string::npos);
    std::vector<Sample> s(2, Sample{1, true});
    const auto r = sensor.read(s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("proc/stat"), std::string::npos);
    EXPECT_FALSE(s[0].valid);
}

TEST(NodeCpuSensor, ReadsTheRealMachine) {
    const core::RootedFs fs("/");
    const auto times = read_cpu_times(fs);
    ASSERT_TRUE(times) << times.error().message;
    EXPECT_GT(times->busy() + times->idle_all(), 0U);
    EXPECT_GT(clock_ticks_per_second(), 0);
}

}  // namespace
}  // namespace joulepilot::sense
