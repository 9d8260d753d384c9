// write_sysfs_u64 and SysfsKnobSet's read-back check on temporary trees.
#include "act/sysfs/sysfs_attribute.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "act/sysfs/sysfs_knob_set.hpp"
#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::act {
namespace {

using testing::TempTree;

TEST(SysfsAttribute, ReplacesTheWholeContent) {
    const TempTree tree;
    tree.write("sys/x/scaling_max_freq", "3900000\n");
    const core::RootedFs fs(tree.root());
    ASSERT_TRUE(write_sysfs_u64(fs, "sys/x/scaling_max_freq", 800));
    EXPECT_EQ(fs.read("sys/x/scaling_max_freq").value(), "800");
}

TEST(SysfsAttribute, NeverCreatesAFile) {
    const TempTree tree;
    tree.write("sys/x/other", "1\n");
    const core::RootedFs fs(tree.root());
    const auto result = write_sysfs_u64(fs, "sys/x/scaling_max_freq", 800);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, core::FileErrorKind::not_found);
    EXPECT_FALSE(fs.exists("sys/x/scaling_max_freq"));
}

TEST(SysfsAttribute, SimulatedPermissionDeniedNamesThePath) {
    const TempTree tree;
    tree.write("sys/x/limit_uw", "5\n");
    core::RootedFs fs(tree.root());
    fs.simulate_error("sys/x/limit_uw");
    const auto result = write_sysfs_u64(fs, "sys/x/limit_uw", 7);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, core::FileErrorKind::permission_denied);
    EXPECT_NE(result.error().message.find(fs.full_path("sys/x/limit_uw")), std::string::npos);
    EXPECT_EQ(tree.root() / "sys/x/limit_uw", std::filesystem::path(result.error().path));
}

// A write the kernel refuses after the open succeeded (here /dev/full: ENOSPC) is an error with its reason.
TEST(SysfsAttribute, AFailedWriteIsReportedWithTheKernelsReason) {
    const TempTree tree;
    std::filesystem::create_directories(tree.root() / "sys/zone");
    std::filesystem::create_symlink("/dev/full", tree.root() / "sys/zone/limit_uw");
    const core::RootedFs fs(tree.root());
    const auto result = write_sysfs_u64(fs, "sys/zone/limit_uw", 150'000'000);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, core::FileErrorKind::other);
    EXPECT_NE(result.error().message.find("No space left on device"), std::string::npos)
        << result.error().message;
}

// Each target of a knob gets the value clamped into its own range; restore puts each original back.
TEST(SysfsKnobSet, ClampsPerTargetAndRestoresEachOriginal) {
    const TempTree tree;
    tree.write("sys/a", "3900000\n");
    tree.write("sys/b", "3000000\n");
    const core::RootedFs fs(tree.root());
    SysfsKnobSet set(fs, "cpufreq");
    SysfsKnob knob;
    knob.knob = Knob{"cpu.0.max_freq_hz", "Hz", KnobDomain{800e6, 3900e6, 100e6, {}}, 3900e6, 3900e6};
    knob.targets.push_back(SysfsTarget{"sys/a", 800'000, 3'900'000, 0});
    knob.targets.push_back(SysfsTarget{"sys/b", 1'200'000, 2'500'000, 0});
    knob.raw_per_unit = 1e-3;
    set.add(knob);
    EXPECT_DOUBLE_EQ(set.current()[0], 3900e6);  // the highest of its targets
    const std::vector<KnobSetting> batch{{"cpu.0.max_freq_hz", 1000e6}};
    ASSERT_TRUE(set.apply(batch));
    EXPECT_EQ(fs.read_line("sys/a").value(), "1000000");
    EXPECT_EQ(fs.read_line("sys/b").value(), "1200000");
    EXPECT_DOUBLE_EQ(set.current()[0], 1200e6);
    ASSERT_TRUE(set.restore());
    EXPECT_EQ(fs.read_line("sys/a").value(), "3900000");
    EXPECT_EQ(fs.read_line("sys/b").value(), "3000000");
}

}  // namespace
}  // namespace joulepilot::act
