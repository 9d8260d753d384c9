// CpufreqActuator on copies of the fixture trees in tests/fixtures/act (each test writes its own).
#include "act/cpufreq/cpufreq_actuator.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::act {
namespace {

using testing::TempTree;

std::string max_freq(const core::RootedFs& fs, int policy) {
    return fs
        .read_line("sys/devices/system/cpu/cpufreq/policy" + std::to_string(policy) + "/scaling_max_freq")
        .value_or("?");
}

std::string policy_file(int policy, const char* file) {
    return "sys/devices/system/cpu/cpufreq/policy" + std::to_string(policy) + "/" + file;
}

TEST(CpufreqActuator, OneKnobPerPackageInHertz) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 2U);
    EXPECT_EQ(knobs[0].name, "cpu.0.max_freq_hz");
    EXPECT_EQ(knobs[1].name, "cpu.1.max_freq_hz");
    EXPECT_EQ(knobs[0].unit, "Hz");
    EXPECT_DOUBLE_EQ(knobs[0].domain.min, 800e6);
    EXPECT_DOUBLE_EQ(knobs[0].domain.max, 3900e6);
    EXPECT_DOUBLE_EQ(knobs[0].domain.step, 100e6);
    EXPECT_TRUE(knobs[0].domain.values.empty());
    EXPECT_DOUBLE_EQ(knobs[0].current, 3900e6);
    EXPECT_DOUBLE_EQ(knobs[0].default_value, 3900e6);
}

TEST(CpufreqActuator, WritesKilohertzToEveryPolicyOfThePackageOnly) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    actuator.discover();
    ASSERT_TRUE(actuator.save());
    const std::vector<KnobSetting> batch{{"cpu.1.max_freq_hz", 2000e6}};
    ASSERT_TRUE(actuator.apply(batch));
    for (int p = 0; p < 4; ++p) EXPECT_EQ(max_freq(fs, p), "3900000") << p;
    for (int p = 4; p < 8; ++p) EXPECT_EQ(max_freq(fs, p), "2000000") << p;
    EXPECT_DOUBLE_EQ(actuator.current()[1], 2000e6);
    ASSERT_TRUE(actuator.restore());
    for (int p = 0; p < 8; ++p) EXPECT_EQ(max_freq(fs, p), "3900000") << p;
}

TEST(CpufreqActuator, EachPolicyGetsBackItsOwnOriginalAndStaysInItsOwnLimits) {
    const TempTree tree("act/node-2s");
    tree.write(policy_file(5, "scaling_max_freq"), "3000000\n");  // an operator's own cap
    tree.write(policy_file(6, "cpuinfo_max_freq"), "2500000\n");  // a slower core
    tree.write(policy_file(7, "scaling_min_freq"), "1200000\n");  // a raised floor
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    actuator.discover();
    const std::vector<KnobSetting> high{{"cpu.1.max_freq_hz", 3000e6}};
    ASSERT_TRUE(actuator.apply(high));
    EXPECT_EQ(max_freq(fs, 4), "3000000");
    EXPECT_EQ(max_freq(fs, 6), "2500000");  // clamped to its cpuinfo_max_freq
    const std::vector<KnobSetting> low{{"cpu.1.max_freq_hz", 800e6}};
    ASSERT_TRUE(actuator.apply(low));
    EXPECT_EQ(max_freq(fs, 4), "800000");
    EXPECT_EQ(max_freq(fs, 7), "1200000");  // never below the floor it had
    ASSERT_TRUE(actuator.restore());
    EXPECT_EQ(max_freq(fs, 4), "3900000");
    EXPECT_EQ(max_freq(fs, 5), "3000000");
    EXPECT_EQ(max_freq(fs, 6), "3900000");
    EXPECT_EQ(max_freq(fs, 7), "3900000");
}

TEST(CpufreqActuator, FrequencyTableBecomesTheDomain) {
    const TempTree tree("act/client-acpi");
    const core::RootedFs fs(tree.root());
    CpufreqActuatorOptions options;
    options.min = core::from_mhz(1500);
    CpufreqActuator actuator(fs, options);
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 1U);
    EXPECT_EQ(knobs[0].domain.values, (std::vector<double>{1600e6, 2200e6, 2800e6, 3400e6}));
    const std::vector<KnobSetting> batch{{"cpu.0.max_freq_hz", 2200e6}};
    ASSERT_TRUE(actuator.apply(batch));
    EXPECT_EQ(max_freq(fs, 0), "2200000");
    EXPECT_EQ(max_freq(fs, 2), "2200000");
    const std::vector<KnobSetting> too_fast{{"cpu.0.max_freq_hz", 5000e6}};  // above cpuinfo_max_freq
    const auto result = actuator.apply(too_fast);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("1000000000..3400000000 Hz"), std::string::npos) << result.error().message;
    EXPECT_EQ(max_freq(fs, 0), "2200000");
}

TEST(CpufreqActuator, PermissionDeniedOnOnePolicyUndoesThePackage) {
    const TempTree tree("act/node-2s");
    core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    actuator.discover();
    fs.simulate_error(policy_file(6, "scaling_max_freq"));
    const std::vector<KnobSetting> batch{{"cpu.0.max_freq_hz", 2000e6}, {"cpu.1.max_freq_hz", 2000e6}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    const std::string& message = result.error().message;
    EXPECT_NE(message.find("cpu.1.max_freq_hz"), std::string::npos) << message;
    EXPECT_NE(message.find("policy6/scaling_max_freq"), std::string::npos) << message;
    EXPECT_NE(message.find("permission denied"), std::string::npos) << message;
    EXPECT_NE(message.find("needs root"), std::string::npos) << message;
    for (int p : {0, 1, 2, 3, 4, 5, 7}) EXPECT_EQ(max_freq(fs, p), "3900000") << p;
    EXPECT_TRUE(actuator.changed().empty());
}

TEST(CpufreqActuator, GarbagePolicyIsLeftOutWithAReason) {
    const TempTree tree("act/node-2s");
    tree.write(policy_file(3, "cpuinfo_max_freq"), "fast\n");
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    actuator.discover();
    ASSERT_EQ(actuator.unavailable().size(), 1U);
    EXPECT_EQ(actuator.unavailable()[0].what, "policy3");
    EXPECT_NE(actuator.unavailable()[0].reason.find("fast"), std::string::npos);
    const std::vector<KnobSetting> batch{{"cpu.0.max_freq_hz", 2000e6}};
    ASSERT_TRUE(actuator.apply(batch));
    EXPECT_EQ(max_freq(fs, 3), "3900000");  // not ours any more
    EXPECT_EQ(max_freq(fs, 2), "2000000");
}

TEST(CpufreqActuator, NoCpufreqMeansNoKnobsAndAReason) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    EXPECT_TRUE(actuator.discover().empty());
    ASSERT_EQ(actuator.unavailable().size(), 1U);
    EXPECT_NE(actuator.unavailable()[0].fix.find("cpufreq driver"), std::string::npos);
}

TEST(CpufreqActuator, AWriteNeverCreatesAFile) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    CpufreqActuator actuator(fs);
    actuator.discover();
    tree.remove(policy_file(0, "scaling_max_freq"));
    const std::vector<KnobSetting> batch{{"cpu.0.max_freq_hz", 2000e6}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("not present"), std::string::npos) << result.error().message;
    EXPECT_FALSE(fs.exists(policy_file(0, "scaling_max_freq")));
}

TEST(CpufreqActuatorConfig, ReadsBoundsInMegahertz) {
    auto doc = core::ConfigDocument::parse("[act.cpufreq]\nenable = false\nmin_mhz = 1200\nmax_mhz = 3000\n",
                                           "test.toml");
    const CpufreqActuatorConfig config =
        read_cpufreq_actuator_config(doc.root().section("act").section("cpufreq"));
    EXPECT_FALSE(config.enable);
    EXPECT_DOUBLE_EQ(config.options.min->value(), 1200e6);
    EXPECT_DOUBLE_EQ(config.options.max->value(), 3000e6);
    EXPECT_DOUBLE_EQ(config.options.step.value(), 100e6);
    auto bad = core::ConfigDocument::parse("[act.cpufreq]\nstep_mhz = 0\n", "test.toml");
    EXPECT_THROW(read_cpufreq_actuator_config(bad.root().section("act").section("cpufreq")),
                 core::ConfigError);
}

}  // namespace
}  // namespace joulepilot::act
