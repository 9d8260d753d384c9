#include "sense/procfs/cgroup_cpu_reader.hpp"

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::fixture_path;
using testing::TempTree;

std::vector<std::string> paths(const std::vector<CgroupCpuTime>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) out.push_back(c.path);
    return out;
}

TEST(CgroupCpuStat, ReadsUsageUsecAnywhereInTheFile) {
    EXPECT_EQ(parse_cpu_stat_usage_usec("usage_usec 42\nuser_usec 40\n"), 42U);
    EXPECT_EQ(parse_cpu_stat_usage_usec("user_usec 40\nusage_usec 7"), 7U);
    EXPECT_FALSE(parse_cpu_stat_usage_usec("user_usec 40\n"));
    EXPECT_FALSE(parse_cpu_stat_usage_usec("usage_usec lots\n"));
    EXPECT_FALSE(parse_cpu_stat_usage_usec("usage_usec_x 1\n"));
}

TEST(CgroupCpuReader, ReadsTheChildrenOfTheRootSortedByPath) {
    const core::RootedFs fs(fixture_path("procfs/node"));
    CgroupCpuReader reader(fs);
    EXPECT_FALSE(reader.check());
    std::vector<CgroupCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    // broken.slice has no usage_usec; files such as cgroup.procs are not cgroups.
    EXPECT_EQ(paths(out),
              (std::vector<std::string>{"init.scope", "kubepods.slice", "system.slice", "user.slice"}));
    EXPECT_EQ(out[2].usage_usec, 4000000U);
}

TEST(CgroupCpuReader, ReadsTheChildrenOfConfiguredParents) {
    const core::RootedFs fs(fixture_path("procfs/node"));
    CgroupCpuReader reader(fs, CgroupCpuOptions{"sys/fs/cgroup", {"kubepods.slice"}});
    std::vector<CgroupCpuTime> out;
    ASSERT_TRUE(reader.read(out));
    EXPECT_EQ(paths(out), (std::vector<std::string>{"kubepods.slice/pod-a", "kubepods.slice/pod-b"}));
}

TEST(CgroupCpuReader, SaysWhenCgroupV2OrAParentIsMissing) {
    const TempTree tree("procfs/node");
    const core::RootedFs fs(tree.root());
    CgroupCpuReader bad_parent(fs, CgroupCpuOptions{"sys/fs/cgroup", {"nope.slice"}});
    ASSERT_TRUE(bad_parent.check());
    EXPECT_EQ(bad_parent.check()->reason, "not present");
    std::vector<CgroupCpuTime> out;
    EXPECT_FALSE(bad_parent.read(out));
    tree.remove("sys/fs/cgroup/cgroup.controllers");  // what a cgroup v1 mount looks like
    CgroupCpuReader v1(fs);
    ASSERT_TRUE(v1.check());
    EXPECT_NE(v1.check()->what.find("cgroup v2"), std::string::npos);
}

TEST(CgroupCpuTracker, GivesEachCgroupItsCpuTimeOfTheInterval) {
    CgroupCpuTracker tracker;
    std::vector<CgroupCpuUse> use;
    tracker.update({{"a", 1000}, {"b", 5000}, {"c", 10}}, use);
    EXPECT_TRUE(use.empty());
    // a +500; b recreated (usage fell): counts its new 200 us; c gone; d new.
    tracker.update({{"a", 1500}, {"b", 200}, {"d", 300}}, use);
    ASSERT_EQ(use.size(), 3U);
    EXPECT_EQ(use[0].path, "a");
    EXPECT_DOUBLE_EQ(use[0].cpu.value(), 500e-6);
    EXPECT_DOUBLE_EQ(use[1].cpu.value(), 200e-6);
    EXPECT_EQ(use[2].path, "d");
    EXPECT_DOUBLE_EQ(use[2].cpu.value(), 300e-6);
}

}  // namespace
}  // namespace joulepilot::sense
