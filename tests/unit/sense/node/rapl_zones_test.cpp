#include "sense/rapl/rapl_zones.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::fixture_path;
using testing::TempTree;

std::vector<std::string> ids(const RaplTopology& t) {
    std::vector<std::string> out;
    for (const RaplZone& z : t.zones) out.push_back(z.id);
    return out;
}

std::vector<std::string> prefixes(const RaplTopology& t) {
    std::vector<std::string> out;
    for (const RaplZone& z : t.zones) out.push_back(z.signal_prefix());
    return out;
}

const SkippedZone* skipped(const RaplTopology& t, std::string_view id) {
    const auto it =
        std::find_if(t.skipped.begin(), t.skipped.end(), [&](const SkippedZone& s) { return s.id == id; });
    return it == t.skipped.end() ? nullptr : &*it;
}

TEST(RaplZones, TwoSocketIntelKeepsEveryDomainOnceAndDropsMmioDuplicates) {
    const core::RootedFs fs(fixture_path("sysfs/intel-2s"));
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_TRUE(t.powercap_present);
    EXPECT_EQ(ids(t), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1",
                                                "intel-rapl:0:2", "intel-rapl:1", "intel-rapl:1:0",
                                                "intel-rapl:1:1", "intel-rapl:1:2"}));
    EXPECT_EQ(prefixes(t),
              (std::vector<std::string>{"cpu.0.package_", "cpu.0.core_", "cpu.0.uncore_", "cpu.0.dram_",
                                        "cpu.1.package_", "cpu.1.core_", "cpu.1.uncore_", "cpu.1.dram_"}));
    const SkippedZone* mmio = skipped(t, "intel-rapl-mmio:0");
    ASSERT_NE(mmio, nullptr);
    EXPECT_NE(mmio->reason.find("duplicate of intel-rapl:0"), std::string::npos);
    ASSERT_NE(skipped(t, "intel-rapl-mmio:1"), nullptr);
    EXPECT_EQ(t.zones[0].max_energy_range_uj, 262143328850U);
    EXPECT_EQ(t.zones[3].max_energy_range_uj, 65712999613U);
    EXPECT_EQ(t.zones[3].path, "sys/class/powercap/intel-rapl:0:2");
    EXPECT_TRUE(t.unavailable.empty());
}

TEST(RaplZones, NestedLayoutWithPsysIsFoundAndPsysIsTheNodeZone) {
    const core::RootedFs fs(fixture_path("sysfs/intel-client"));
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_EQ(ids(t),
              (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1"}));
    EXPECT_EQ(prefixes(t),
              (std::vector<std::string>{"cpu.0.package_", "cpu.0.core_", "cpu.0.uncore_", "node.psys_"}));
    EXPECT_EQ(t.zones[3].domain, RaplDomain::psys);
    EXPECT_EQ(t.zones[1].path, "sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0");
    ASSERT_NE(skipped(t, "intel-rapl-mmio:0"), nullptr);
}

TEST(RaplZones, MmioZonesAreUsedWhenTheMsrInterfaceIsAbsent) {
    const TempTree tree("sysfs/intel-2s");
    for (const char* id : {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2",
                           "intel-rapl:1", "intel-rapl:1:0", "intel-rapl:1:1", "intel-rapl:1:2"}) {
        tree.remove(std::string("sys/class/powercap/") + id);
    }
    const core::RootedFs fs(tree.root());
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_EQ(ids(t), (std::vector<std::string>{"intel-rapl-mmio:0", "intel-rapl-mmio:1"}));
    EXPECT_EQ(prefixes(t), (std::vector<std::string>{"cpu.0.package_", "cpu.1.package_"}));
    EXPECT_TRUE(t.skipped.empty());
}

TEST(RaplZones, AmdPerDieMirrorsAreDroppedWithTheirSubzones) {
    const core::RootedFs fs(fixture_path("sysfs/amd-threadripper"));
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_EQ(ids(t), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0"}));
    EXPECT_EQ(prefixes(t), (std::vector<std::string>{"cpu.0.package_", "cpu.0.core_"}));
    const SkippedZone* die1 = skipped(t, "intel-rapl:1");
    ASSERT_NE(die1, nullptr);
    EXPECT_NE(die1->reason.find("mirror of intel-rapl:0"), std::string::npos);
    ASSERT_NE(skipped(t, "intel-rapl:1:0"), nullptr);
}

TEST(RaplZones, AmdDiesAreMirrorsEvenWhenTheirReadingsDrifted) {
    const TempTree tree("sysfs/amd-threadripper");
    tree.write("sys/class/powercap/intel-rapl:1/energy_uj", "99000000\n");
    const core::RootedFs fs(tree.root());
    EXPECT_EQ(ids(discover_rapl_zones(fs)), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0"}));
}

TEST(RaplZones, IdenticalDieCountersAreMirrorsOnAnyVendor) {
    const TempTree tree("sysfs/amd-threadripper");
    tree.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\n");
    tree.write("sys/class/powercap/intel-rapl:1/energy_uj", "41000450\n");  // 450 uJ later: one counter
    const core::RootedFs fs(tree.root());
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_EQ(ids(t), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0"}));
    ASSERT_NE(skipped(t, "intel-rapl:1"), nullptr);
    EXPECT_NE(skipped(t, "intel-rapl:1")->reason.find("same counter"), std::string::npos);
}

TEST(RaplZones, DistinctDiesOfOnePackageAreLabelledPerDie) {
    const core::RootedFs fs(fixture_path("sysfs/intel-multidie"));
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_EQ(prefixes(t), (std::vector<std::string>{"cpu.0_die0.package_", "cpu.0_die0.dram_",
                                                     "cpu.0_die1.package_", "cpu.0_die1.dram_"}));
    EXPECT_TRUE(t.skipped.empty());
}

TEST(RaplZones, BadZonesAreSkippedWithAReasonAndTheRestKept) {
    const core::RootedFs fs(fixture_path("sysfs/faults"));
    const RaplTopology t = discover_rapl_zones(fs);
    // intel-rapl:0:0 (garbage energy) and intel-rapl:1 (no energy_uj) are placed here; reading them is
    // the sensor's business.
    EXPECT_EQ(ids(t), (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1"}));
    ASSERT_NE(skipped(t, "intel-rapl:0:1"), nullptr);
    EXPECT_NE(skipped(t, "intel-rapl:0:1")->reason.find("no readable name"), std::string::npos);
    ASSERT_NE(skipped(t, "intel-rapl:0:2"), nullptr);
    EXPECT_NE(skipped(t, "intel-rapl:0:2")->reason.find("unknown zone name \"gpu-thing\""),
              std::string::npos);
    ASSERT_NE(skipped(t, "intel-rapl:2:0"), nullptr);
    EXPECT_NE(skipped(t, "intel-rapl:2:0")->reason.find("without a package"), std::string::npos);
    ASSERT_NE(skipped(t, "intel-rapl:3"), nullptr);
    // The garbage range is reported, and the zone falls back to "no wrap possible".
    EXPECT_FALSE(t.zones[0].max_energy_range_uj);
    ASSERT_FALSE(t.unavailable.empty());
    EXPECT_EQ(t.unavailable[0].what, "intel-rapl:0 max_energy_range_uj");
    EXPECT_NE(t.unavailable[0].reason.find("\"lots\""), std::string::npos);
}

TEST(RaplZones, NoPowercapDirectoryMeansNothingPresent) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    const RaplTopology t = discover_rapl_zones(fs);
    EXPECT_FALSE(t.powercap_present);
    EXPECT_TRUE(t.zones.empty());
}

TEST(RaplZones, AnUnreadableNameIsSkippedNotFatal) {
    core::RootedFs fs(fixture_path("sysfs/intel-2s"));
    fs.simulate_error("sys/class/powercap/intel-rapl:1/name");
    const RaplTopology t = discover_rapl_zones(fs);
    ASSERT_NE(skipped(t, "intel-rapl:1"), nullptr);
    EXPECT_NE(skipped(t, "intel-rapl:1")->reason.find("permission denied"), std::string::npos);
    // Its subzones have no package above them now; package-1 through MMIO takes its place.
    const auto kept = ids(t);
    EXPECT_NE(std::find(kept.begin(), kept.end(), "intel-rapl-mmio:1"), kept.end());
    EXPECT_EQ(std::find(kept.begin(), kept.end(), "intel-rapl:1:0"), kept.end());
}

}  // namespace
}  // namespace joulepilot::sense
