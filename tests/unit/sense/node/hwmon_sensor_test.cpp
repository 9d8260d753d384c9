#include "sense/hwmon/hwmon_sensor.hpp"

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::TempTree;

std::vector<std::string> names(const std::vector<SignalInfo>& signals) {
    std::vector<std::string> out;
    for (const auto& s : signals) out.push_back(s.name);
    return out;
}

std::size_t index_of(const std::vector<SignalInfo>& signals, std::string_view name) {
    const auto it =
        std::find_if(signals.begin(), signals.end(), [&](const SignalInfo& s) { return s.name == name; });
    if (it == signals.end()) throw std::runtime_error("no signal " + std::string(name));
    return static_cast<std::size_t>(it - signals.begin());
}

class HwmonSensorTest : public ::testing::Test {
protected:
    TempTree m_tree{"sysfs/hwmon-node"};
    core::RootedFs m_fs{m_tree.root()};
    core::ManualClock m_clock{core::Seconds(50)};
};

TEST_F(HwmonSensorTest, FindsChannelsByChipNameWithUnits) {
    HwmonSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    EXPECT_EQ(names(signals), (std::vector<std::string>{
                                  "hwmon.acpi_power_meter.power1_average_watts",
                                  "hwmon.amd_energy.energy1_joules_total",
                                  "hwmon.amd_energy.energy1_power_watts",
                                  "hwmon.k10temp.temp1_celsius",
                                  "hwmon.nvme_0.temp1_celsius",
                                  "hwmon.nvme_1.temp1_celsius",
                              }));
    EXPECT_EQ(signals[0].unit, "W");
    EXPECT_EQ(signals[1].unit, "J");
    EXPECT_EQ(signals[2].provenance, Provenance::derived);
    EXPECT_NE(signals[3].description.find("Tctl"), std::string::npos);
    // The garbage power channel and the nameless chip are reported, not guessed.
    const auto unavailable = sensor.unavailable();
    ASSERT_EQ(unavailable.size(), 2U);
    EXPECT_EQ(unavailable[0].what, "hwmon hwmon5");
    EXPECT_EQ(unavailable[1].what, "hwmon garbage power1_input");
    EXPECT_NE(unavailable[1].reason.find("\"n/a\""), std::string::npos);
}

TEST_F(HwmonSensorTest, ReadsSiValues) {
    HwmonSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    m_clock.advance(core::Seconds(2));
    m_tree.write("sys/class/hwmon/hwmon4/energy1_input", "133456789\n");  // +10 J
    std::vector<Sample> s(signals.size());
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.acpi_power_meter.power1_average_watts")].value, 245.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.amd_energy.energy1_joules_total")].value, 10.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.amd_energy.energy1_power_watts")].value, 5.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.k10temp.temp1_celsius")].value, -1.5);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.nvme_0.temp1_celsius")].value, 38.85);
}

TEST_F(HwmonSensorTest, NamesDoNotDependOnTheHwmonIndex) {
    HwmonSensor before(m_fs, m_clock);
    const auto first = names(before.discover());
    // Renumber the chips as a reboot might.
    const auto dir = m_tree.root() / "sys/class/hwmon";
    std::filesystem::rename(dir / "hwmon1", dir / "hwmon9");
    std::filesystem::rename(dir / "hwmon4", dir / "hwmon1");
    std::filesystem::rename(dir / "hwmon2", dir / "hwmon7");
    HwmonSensor after(m_fs, m_clock);
    const auto signals = after.discover();
    EXPECT_EQ(names(signals), first);
    std::vector<Sample> s(signals.size());
    ASSERT_TRUE(after.read(s));
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.acpi_power_meter.power1_average_watts")].value, 245.0);
}

TEST_F(HwmonSensorTest, ChipsSharingANameAreOrderedByTheirDevice) {
    const auto dir = m_tree.root() / "sys/class/hwmon";
    std::filesystem::create_directory_symlink("../../../devices/nvme1", dir / "hwmon0/device");
    std::filesystem::create_directory_symlink("../../../devices/nvme0", dir / "hwmon3/device");
    HwmonSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    std::vector<Sample> s(signals.size());
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[index_of(signals, "hwmon.nvme_0.temp1_celsius")].value, 40.85);  // nvme0 is hwmon3
    EXPECT_NE(signals[index_of(signals, "hwmon.nvme_0.temp1_celsius")].description.find("on nvme0"),
              std::string::npos);
}

TEST_F(HwmonSensorTest, OnlyTheNamedChipsAreReadAndMissingOnesReported) {
    HwmonSensor sensor(m_fs, m_clock,
                       HwmonOptions{"sys/class/hwmon", {"acpi_power_meter", "amdgpu"}, core::Watts(5000)});
    const auto signals = sensor.discover();
    EXPECT_EQ(names(signals), (std::vector<std::string>{"hwmon.acpi_power_meter.power1_average_watts"}));
    const auto unavailable = sensor.unavailable();
    EXPECT_TRUE(std::any_of(unavailable.begin(), unavailable.end(), [](const Unavailable& u) {
        return u.what == "hwmon chip \"amdgpu\"" && u.reason == "not present";
    }));
}

TEST_F(HwmonSensorTest, PermissionDeniedChannelsAreLabelled) {
    m_fs.simulate_error("sys/class/hwmon/hwmon1/power1_average");
    HwmonSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    const auto found = names(signals);
    EXPECT_EQ(std::count(found.begin(), found.end(), "hwmon.acpi_power_meter.power1_average_watts"), 0);
    EXPECT_FALSE(found.empty());  // the other chips are still read
    const auto unavailable = sensor.unavailable();
    EXPECT_TRUE(std::any_of(unavailable.begin(), unavailable.end(), [](const Unavailable& u) {
        return u.what == "hwmon acpi_power_meter power1_average" && u.reason == "permission denied" &&
               !u.fix.empty();
    }));
}

TEST_F(HwmonSensorTest, AnEnergyCounterGoingBackIsAResetAndAFailedChannelIsMissing) {
    HwmonSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    const auto energy = index_of(signals, "hwmon.amd_energy.energy1_joules_total");
    const auto power = index_of(signals, "hwmon.acpi_power_meter.power1_average_watts");
    m_clock.advance(core::Seconds(1));
    m_tree.write("sys/class/hwmon/hwmon4/energy1_input", "1000\n");
    m_tree.remove("sys/class/hwmon/hwmon1/power1_average");
    std::vector<Sample> s(signals.size());
    ASSERT_TRUE(sensor.read(s));
    EXPECT_FALSE(s[energy].valid);
    EXPECT_FALSE(s[power].valid);
    EXPECT_TRUE(s[index_of(signals, "hwmon.k10temp.temp1_celsius")].valid);
    EXPECT_EQ(sensor.resets(), 1U);
    EXPECT_EQ(sensor.read_errors(), 1U);
    m_clock.advance(core::Seconds(1));
    m_tree.write("sys/class/hwmon/hwmon4/energy1_input", "3001000\n");
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[energy].value, 3.0);
}

TEST(HwmonSensor, NoHwmonClassIsNotPresent) {
    const TempTree tree;
    const core::RootedFs fs(tree.root());
    const core::ManualClock clock;
    HwmonSensor sensor(fs, clock);
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_EQ(sensor.unavailable()[0].reason, "not present");
}

}  // namespace
}  // namespace joulepilot::sense
