#include "sense/hwmon/ipmi_dcmi_sensor.hpp"

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::fixture_path;

std::vector<std::string> fake(std::string_view output, std::string_view status = "0") {
    return {"/bin/sh", fixture_path("sysfs/ipmi/fake-ipmi-dcmi.sh").string(),
            fixture_path(std::string("sysfs/ipmi/") + std::string(output)).string(), std::string(status)};
}

TEST(DcmiParse, ReadsCurrentAndAveragePower) {
    const auto s = parse_dcmi_power_statistics(
        "Current Power                        : 178 Watts\n"
        "Average Power over sampling duration : 160 watts\n"
        "Power Measurement                    : Active\n");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->current_watts, 178.0);
    EXPECT_EQ(s->average_watts, 160.0);
    EXPECT_TRUE(s->measurement_active);
}

TEST(DcmiParse, NoCurrentPowerLineIsNoReading) {
    EXPECT_FALSE(parse_dcmi_power_statistics("ipmi_ctx_open_inband: could not find inband device\n"));
    EXPECT_FALSE(parse_dcmi_power_statistics(""));
    const auto garbage = parse_dcmi_power_statistics("Current Power : lots Watts\n");
    ASSERT_TRUE(garbage);
    EXPECT_FALSE(garbage->current_watts);
}

TEST(RunCommand, CapturesOutputAndStatus) {
    const auto ok =
        run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(10));
    EXPECT_EQ(ok.spawn_errno, 0);
    EXPECT_EQ(ok.exit_status, 3);
    EXPECT_EQ(ok.out, "out\n");
    EXPECT_EQ(ok.err, "err\n");
    EXPECT_FALSE(ok.timed_out);
}

TEST(RunCommand, AMissingProgramIsENOENT) {
    const auto missing = run_command({"joulepilot-no-such-program-xyz"}, std::chrono::seconds(1));
    EXPECT_EQ(missing.spawn_errno, ENOENT);
}

TEST(RunCommand, AHungCommandIsKilledAtTheTimeout) {
    const auto hung = run_command({"/bin/sh", "-c", "exec sleep 30"}, std::chrono::milliseconds(200));
    EXPECT_TRUE(hung.timed_out);
    EXPECT_EQ(hung.exit_status, -1);
}

TEST(IpmiDcmiSensor, ReportsBmcPowerFromTheCommand) {
    IpmiDcmiSensor sensor(IpmiDcmiOptions{fake("active.txt"), std::chrono::seconds(10)});
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 2U);
    EXPECT_EQ(signals[0].name, "node.ipmi_power_watts");
    EXPECT_EQ(signals[0].provenance, Provenance::measured);
    EXPECT_EQ(signals[1].name, "node.ipmi_average_power_watts");
    std::vector<Sample> s(2);
    ASSERT_TRUE(sensor.read(s));
    EXPECT_TRUE(s[0].valid);
    EXPECT_DOUBLE_EQ(s[0].value, 178.0);
    EXPECT_DOUBLE_EQ(s[1].value, 160.0);
}

TEST(IpmiDcmiSensor, AnInactiveMeasurementIsMissingNotZero) {
    IpmiDcmiSensor sensor(IpmiDcmiOptions{fake("not_available.txt"), std::chrono::seconds(10)});
    ASSERT_EQ(sensor.discover().size(), 2U);
    std::vector<Sample> s(2, Sample{1, true});
    ASSERT_TRUE(sensor.read(s));
    EXPECT_FALSE(s[0].valid);
    EXPECT_FALSE(s[1].valid);
}

TEST(IpmiDcmiSensor, NotInstalledSaysWhichPackageToInstall) {
    IpmiDcmiSensor sensor(IpmiDcmiOptions{{"joulepilot-no-such-ipmi-dcmi"}, std::chrono::seconds(1)});
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_EQ(sensor.unavailable()[0].reason, "not present");
    EXPECT_NE(sensor.unavailable()[0].fix.find("freeipmi-tools"), std::string::npos);
    std::vector<Sample> s;
    EXPECT_TRUE(sensor.read(s));
}

TEST(IpmiDcmiSensor, AFailingBmcIsUnavailableWithItsMessage) {
    IpmiDcmiSensor sensor(IpmiDcmiOptions{fake("no_bmc.txt", "1"), std::chrono::seconds(10)});
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_NE(sensor.unavailable()[0].reason.find("could not find inband device"), std::string::npos);
    EXPECT_NE(sensor.unavailable()[0].reason.find("status 1"), std::string::npos);
}

TEST(IpmiDcmiSensor, AReadThatFailsLaterIsAnErrorWithMissingSamples) {
    const testing::TempTree tree;
    tree.write("out.txt", "Current Power : 300 Watts\n");
    const std::string file = (tree.root() / "out.txt").string();
    IpmiDcmiSensor sensor(IpmiDcmiOptions{{"/bin/sh", "-c", "cat '" + file + "'"}, std::chrono::seconds(10)});
    ASSERT_EQ(sensor.discover().size(), 2U);
    std::vector<Sample> s(2);
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[0].value, 300.0);
    EXPECT_FALSE(s[1].valid);  // no average line: missing, not 0
    tree.write("out.txt", "BMC busy\n");
    const auto r = sensor.read(s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no \"Current Power\" line"), std::string::npos);
    EXPECT_FALSE(s[0].valid);
}

}  // namespace
}  // namespace joulepilot::sense
