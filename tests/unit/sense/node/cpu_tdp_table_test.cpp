#include "sense/estimate/cpu_tdp_table.hpp"

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::fixture_path;

TEST(CpuInfo, CountsSocketsAndReadsTheModel) {
    const core::RootedFs fs(fixture_path("sysfs/intel-2s"));
    const auto info = read_cpuinfo(fs);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->vendor, "GenuineIntel");
    EXPECT_EQ(info->model_name, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz");
    EXPECT_EQ(info->sockets, 2);
    EXPECT_EQ(info->logical_cpus, 4);
    EXPECT_EQ(info->cores_per_socket, 40);
}

TEST(CpuInfo, WithoutPhysicalIdsThereIsOneSocket) {
    const CpuInfo info = parse_cpuinfo("processor : 0\nmodel name : Some CPU\nprocessor : 1\n");
    EXPECT_EQ(info.sockets, 1);
    EXPECT_EQ(info.logical_cpus, 2);
    EXPECT_EQ(info.cores_per_socket, 0);
    const core::RootedFs fs(fixture_path("sysfs/nowhere"));
    EXPECT_FALSE(read_cpuinfo(fs));
}

TEST(CpuTdpTable, MatchesWholeModelTokensOnly) {
    const auto epyc = lookup_cpu_tdp("AMD EPYC 7763 64-Core Processor");
    ASSERT_TRUE(epyc);
    EXPECT_EQ(epyc->tdp_watts, 280);
    EXPECT_EQ(epyc->cores, 64);
    const auto xeon = lookup_cpu_tdp("Intel(R) Xeon(R) Platinum 8480+");
    ASSERT_TRUE(xeon);
    EXPECT_EQ(xeon->tdp_watts, 350);
    EXPECT_EQ(lookup_cpu_tdp("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz")->tdp_watts, 270);
    EXPECT_FALSE(lookup_cpu_tdp("AMD EPYC 77630"));
    EXPECT_FALSE(lookup_cpu_tdp("AMD EPYC 17763"));
    EXPECT_FALSE(lookup_cpu_tdp("AMD EPYC"));
    EXPECT_FALSE(lookup_cpu_tdp(""));
}

}  // namespace
}  // namespace joulepilot::sense
