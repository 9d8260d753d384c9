// RaplPowerLimitActuator on copies of the fixture trees in tests/fixtures/act (each test writes its own).
#include "act/rapl/rapl_power_limit_actuator.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "act/shield/safety_shield.hpp"
#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::act {
namespace {

using testing::TempTree;

constexpr const char* kPackage0 = "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw";
constexpr const char* kPackage1 = "sys/class/powercap/intel-rapl:1/constraint_0_power_limit_uw";

std::string contents(const core::RootedFs& fs, const std::string& path) {
    return fs.read_line(path).value_or("?");
}

const Knob* find_knob(const std::vector<Knob>& knobs, const std::string& name) {
    const auto it = std::find_if(knobs.begin(), knobs.end(), [&](const Knob& k) { return k.name == name; });
    return it == knobs.end() ? nullptr : &*it;
}

TEST(RaplPowerLimitActuator, OneLongTermKnobPerPackageThroughTheMsrInterfaceOnly) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 2U);  // the MMIO duplicate of package 0 and the dram zones give none
    EXPECT_EQ(knobs[0].name, "cpu.0.package_power_limit_watts");
    EXPECT_EQ(knobs[1].name, "cpu.1.package_power_limit_watts");
    EXPECT_EQ(knobs[0].unit, "W");
    EXPECT_DOUBLE_EQ(knobs[0].domain.max, 205.0);
    EXPECT_DOUBLE_EQ(knobs[0].domain.min, 102.5);  // half the max by default
    EXPECT_DOUBLE_EQ(knobs[0].domain.step, 1.0);
    EXPECT_DOUBLE_EQ(knobs[0].current, 205.0);
    EXPECT_DOUBLE_EQ(knobs[0].default_value, 205.0);
}

TEST(RaplPowerLimitActuator, WritesMicrowattsAndRestoresTheOriginal) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    actuator.discover();
    ASSERT_TRUE(actuator.save());
    const std::vector<KnobSetting> batch{{"cpu.1.package_power_limit_watts", 150.5}};
    ASSERT_TRUE(actuator.apply(batch));
    EXPECT_EQ(contents(fs, kPackage1), "150500000");
    EXPECT_EQ(contents(fs, kPackage0), "205000000");
    EXPECT_DOUBLE_EQ(actuator.current()[1], 150.5);
    ASSERT_TRUE(actuator.restore());
    EXPECT_EQ(contents(fs, kPackage1), "205000000");
    EXPECT_TRUE(actuator.changed().empty());
}

TEST(RaplPowerLimitActuator, ShortTermConstraintWithoutAMaxIsCappedAtItsCurrentLimit) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplActuatorOptions options;
    options.constraints = {"long_term", "short_term"};
    options.min = core::Watts(180);
    RaplPowerLimitActuator actuator(fs, options);
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 4U);
    const Knob* short_term = find_knob(knobs, "cpu.0.package_short_term_power_limit_watts");
    ASSERT_NE(short_term, nullptr);
    EXPECT_DOUBLE_EQ(short_term->domain.max, 246.0);  // max_power_uw is 0: never above what it was
    EXPECT_DOUBLE_EQ(short_term->domain.min, 180.0);  // the configured floor beats half of 246
    const Knob* long_term = find_knob(knobs, "cpu.0.package_power_limit_watts");
    ASSERT_NE(long_term, nullptr);
    EXPECT_DOUBLE_EQ(long_term->domain.min, 180.0);
}

TEST(RaplPowerLimitActuator, KernelMinimumDisabledZonesAndNestedLayout) {
    const TempTree tree("act/client-acpi");
    const core::RootedFs fs(tree.root());
    RaplActuatorOptions options;
    options.min_fraction_of_max = 0;
    RaplPowerLimitActuator actuator(fs, options);
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 1U);
    EXPECT_EQ(knobs[0].name, "cpu.0.package_power_limit_watts");
    EXPECT_DOUBLE_EQ(knobs[0].domain.min, 10.0);  // constraint_0_min_power_uw
    EXPECT_DOUBLE_EQ(knobs[0].domain.max, 28.0);
    const auto& unavailable = actuator.unavailable();
    EXPECT_TRUE(std::any_of(unavailable.begin(), unavailable.end(), [](const sense::Unavailable& u) {
        return u.what.find("psys") != std::string::npos && u.reason.find("enabled = 0") != std::string::npos;
    }));
}

TEST(RaplPowerLimitActuator, PermissionDeniedIsAClearErrorAndUndoesTheBatch) {
    const TempTree tree("act/node-2s");
    core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    actuator.discover();
    ASSERT_TRUE(actuator.save());
    fs.simulate_error(kPackage1);  // after discovery: the agent lost the right to write
    const std::vector<KnobSetting> batch{{"cpu.0.package_power_limit_watts", 150.0},
                                         {"cpu.1.package_power_limit_watts", 150.0}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    const std::string& message = result.error().message;
    EXPECT_NE(message.find("cpu.1.package_power_limit_watts"), std::string::npos) << message;
    EXPECT_NE(message.find("intel-rapl:1/constraint_0_power_limit_uw"), std::string::npos) << message;
    EXPECT_NE(message.find("permission denied"), std::string::npos) << message;
    EXPECT_NE(message.find("needs root"), std::string::npos) << message;
    EXPECT_EQ(contents(fs, kPackage0), "205000000");  // undone
    EXPECT_TRUE(actuator.changed().empty());
}

TEST(RaplPowerLimitActuator, UnreadableOrGarbageLimitsAreReportedAtDiscovery) {
    const TempTree tree("act/node-2s");
    tree.write(kPackage1, "lots\n");
    core::RootedFs fs(tree.root());
    fs.simulate_error(kPackage0);
    RaplPowerLimitActuator actuator(fs);
    EXPECT_TRUE(actuator.discover().empty());
    const auto& unavailable = actuator.unavailable();
    ASSERT_EQ(unavailable.size(), 2U);
    EXPECT_NE(unavailable[0].reason.find("permission denied"), std::string::npos) << unavailable[0].reason;
    EXPECT_NE(unavailable[0].fix.find("root"), std::string::npos);
    EXPECT_NE(unavailable[1].reason.find("lots"), std::string::npos) << unavailable[1].reason;
}

TEST(RaplPowerLimitActuator, GarbageAfterDiscoveryFailsTheWriteWithoutTouchingIt) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    actuator.discover();
    tree.write(kPackage0, "garbage\n");
    const std::vector<KnobSetting> batch{{"cpu.0.package_power_limit_watts", 150.0}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("garbage"), std::string::npos) << result.error().message;
    EXPECT_EQ(contents(fs, kPackage0), "garbage");
}

TEST(RaplPowerLimitActuator, RefusesOutOfDomainValuesAndUnknownKnobs) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    actuator.discover();
    const std::vector<KnobSetting> high{{"cpu.0.package_power_limit_watts", 300.0}};
    const auto result = actuator.apply(high);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("0..205 W"), std::string::npos) << result.error().message;
    const std::vector<KnobSetting> unknown{{"cpu.9.package_power_limit_watts", 150.0}};
    EXPECT_FALSE(actuator.apply(unknown));
    EXPECT_EQ(contents(fs, kPackage0), "205000000");
}

// Crash recovery applies the saved originals directly: one outside the configured bounds (but inside the
// kernel's) must go back, not be refused or clamped.
TEST(RaplPowerLimitActuator, OriginalsOutsideTheConfiguredBoundsCanBeWrittenBack) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    RaplActuatorOptions options;
    options.max = core::Watts(180);
    RaplPowerLimitActuator actuator(fs, options);
    const auto knobs = actuator.discover();
    ASSERT_DOUBLE_EQ(knobs[0].domain.max, 180.0);
    const std::vector<KnobSetting> lowered{{"cpu.0.package_power_limit_watts", 150.0}};
    ASSERT_TRUE(actuator.apply(lowered));
    const std::vector<KnobSetting> original{{"cpu.0.package_power_limit_watts", 205.0}};
    ASSERT_TRUE(actuator.apply(original));
    EXPECT_EQ(contents(fs, kPackage0), "205000000");
}

// After a SIGKILL the next run discovers the limits the killed run left. A short-term limit without a kernel
// maximum takes the limit found as its ceiling, so the original (higher) must still be writable by crash
// recovery, and afterwards the originals are the knobs' defaults and ceilings again.
TEST(RaplPowerLimitActuator, CrashRecoveryRaisesALimitWithoutAKernelMaxAndMakesTheOriginalsTheDefaults) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    constexpr const char* kShortTerm0 = "sys/class/powercap/intel-rapl:0/constraint_1_power_limit_uw";
    std::ofstream(tree.root() / kShortTerm0) << "200000000\n";  // lowered from 246 W by the killed run
    std::ofstream(tree.root() / kPackage0) << "150000000\n";    // lowered from 205 W
    const auto file = std::filesystem::temp_directory_path() / ("jp-rapl-recover-" + std::to_string(::getpid()));
    ASSERT_TRUE(SavedSettingsFile(file).store({{"rapl", "cpu.0.package_short_term_power_limit_watts", 246},
                                               {"rapl", "cpu.0.package_power_limit_watts", 205}}));
    RaplActuatorOptions options;
    options.constraints = {"long_term", "short_term"};
    RaplPowerLimitActuator actuator(fs, options);
    const auto found = actuator.discover();
    ASSERT_DOUBLE_EQ(find_knob(found, "cpu.0.package_short_term_power_limit_watts")->domain.max, 200.0);
    ASSERT_DOUBLE_EQ(find_knob(found, "cpu.0.package_power_limit_watts")->default_value, 150.0);

    ShieldSettings settings;
    settings.mode = ShieldMode::act;
    settings.allow_unlisted = true;
    settings.state_file = file;
    SafetyShield shield({&actuator}, settings);
    const auto recovered = shield.recover();
    ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
    EXPECT_EQ(contents(fs, kShortTerm0), "246000000");
    EXPECT_EQ(contents(fs, kPackage0), "205000000");
    const Knob* short_term = shield.knob_space().get("cpu.0.package_short_term_power_limit_watts");
    ASSERT_NE(short_term, nullptr);
    EXPECT_DOUBLE_EQ(short_term->default_value, 246.0);
    EXPECT_DOUBLE_EQ(short_term->domain.max, 246.0);
    const Knob* long_term = shield.knob_space().get("cpu.0.package_power_limit_watts");
    EXPECT_DOUBLE_EQ(long_term->default_value, 205.0);
    EXPECT_DOUBLE_EQ(long_term->domain.max, 205.0);  // the kernel's max, not what was found
    EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(RaplPowerLimitActuator, DestructionRestores) {
    const TempTree tree("act/node-2s");
    const core::RootedFs fs(tree.root());
    {
        RaplPowerLimitActuator actuator(fs);
        actuator.discover();
        const std::vector<KnobSetting> batch{{"cpu.0.package_power_limit_watts", 120.0}};
        ASSERT_TRUE(actuator.apply(batch));
        EXPECT_EQ(contents(fs, kPackage0), "120000000");
    }
    EXPECT_EQ(contents(fs, kPackage0), "205000000");
}

TEST(RaplPowerLimitActuator, NoPowercapMeansNoKnobsAndAReason) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    RaplPowerLimitActuator actuator(fs);
    EXPECT_TRUE(actuator.discover().empty());
    ASSERT_EQ(actuator.unavailable().size(), 1U);
    EXPECT_EQ(actuator.unavailable()[0].reason, "not present");
}

TEST(RaplActuatorConfig, ReadsDomainsAndConstraintsAsCommaLists) {
    auto doc = core::ConfigDocument::parse(
        "[act.rapl]\ndomains = \"package, dram\"\nconstraints = \"long_term,short_term\"\nmin_watts = 90\n"
        "min_fraction_of_max = 0.25\nstep_watts = 5\n",
        "test.toml");
    const RaplActuatorConfig config = read_rapl_actuator_config(doc.root().section("act").section("rapl"));
    EXPECT_EQ(config.options.domains,
              (std::vector<sense::RaplDomain>{sense::RaplDomain::package, sense::RaplDomain::dram}));
    EXPECT_EQ(config.options.constraints, (std::vector<std::string>{"long_term", "short_term"}));
    EXPECT_DOUBLE_EQ(config.options.min->value(), 90.0);
    EXPECT_FALSE(config.options.max.has_value());
    EXPECT_DOUBLE_EQ(config.options.min_fraction_of_max, 0.25);
    EXPECT_DOUBLE_EQ(config.options.step.value(), 5.0);
    EXPECT_NO_THROW(doc.reject_unknown_keys());

    auto bad = core::ConfigDocument::parse("[act.rapl]\ndomains = \"package,gpu\"\n", "test.toml");
    try {
        read_rapl_actuator_config(bad.root().section("act").section("rapl"));
        FAIL() << "unknown domain accepted";
    } catch (const core::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'gpu' is not one of"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace joulepilot::act
