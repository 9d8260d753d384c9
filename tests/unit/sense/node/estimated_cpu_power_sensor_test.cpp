#include "sense/estimate/estimated_cpu_power_sensor.hpp"

#include <gtest/gtest.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::TempTree;

class EstimatedCpuPowerTest : public ::testing::Test {
protected:
    TempTree m_tree{"procfs/node"};  // AMD EPYC 7763, one socket, 64 cores seen
    core::RootedFs m_fs{m_tree.root()};
    core::ManualClock m_clock{core::Seconds(0)};
};

TEST_F(EstimatedCpuPowerTest, SignalsAreLabelledEstimatedAndNamedApart) {
    EstimatedCpuPowerSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 2U);
    EXPECT_EQ(signals[0].name, "cpu.estimated_power_watts");
    EXPECT_EQ(signals[1].name, "cpu.estimated_energy_joules_total");
    for (const auto& s : signals) {
        EXPECT_EQ(s.provenance, Provenance::estimated);
        EXPECT_NE(s.description.find("not measured"), std::string::npos);
    }
    EXPECT_DOUBLE_EQ(sensor.full_power()->value(), 280.0);
    EXPECT_DOUBLE_EQ(sensor.idle_power()->value(), 70.0);
    EXPECT_NE(sensor.basis().find("EPYC 7763"), std::string::npos);
}

TEST_F(EstimatedCpuPowerTest, PowerFollowsUtilisationAndEnergyIntegratesIt) {
    EstimatedCpuPowerSensor sensor(m_fs, m_clock);
    sensor.discover();
    m_clock.advance(core::Seconds(10));
    m_tree.write("proc/stat", "cpu  1050 20 300 5150 100 10 5 50 0 0\n");  // +50 busy, +150 idle: 25%
    std::vector<Sample> s(2);
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[0].value, 70.0 + 0.25 * 210.0);
    EXPECT_DOUBLE_EQ(s[1].value, 1225.0);
    m_clock.advance(core::Seconds(5));
    m_tree.write("proc/stat", "cpu  1150 20 300 5150 100 10 5 50 0 0\n");  // 100% busy
    ASSERT_TRUE(sensor.read(s));
    EXPECT_DOUBLE_EQ(s[0].value, 280.0);
    EXPECT_DOUBLE_EQ(s[1].value, 1225.0 + 1400.0);
}

TEST_F(EstimatedCpuPowerTest, ConfiguredPowerWinsOverTheTable) {
    EstimatedCpuPowerOptions options;
    options.full_power = core::Watts(20);
    options.idle_power = core::Watts(4);
    EstimatedCpuPowerSensor sensor(m_fs, m_clock, options);
    ASSERT_EQ(sensor.discover().size(), 2U);
    EXPECT_DOUBLE_EQ(sensor.full_power()->value(), 20.0);
    EXPECT_DOUBLE_EQ(sensor.idle_power()->value(), 4.0);
    EXPECT_EQ(sensor.basis(), "config");
}

TEST_F(EstimatedCpuPowerTest, AVirtualMachineSliceGetsItsShareOfTheSocket) {
    m_tree.write("proc/cpuinfo",
                 "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763 64-Core Processor\n"
                 "physical id\t: 0\ncpu cores\t: 2\n\nprocessor\t: 1\nphysical id\t: 0\ncpu cores\t: 2\n");
    EstimatedCpuPowerSensor sensor(m_fs, m_clock);
    sensor.discover();
    EXPECT_DOUBLE_EQ(sensor.full_power()->value(), 280.0 * 2 / 64);
}

TEST_F(EstimatedCpuPowerTest, AnUnknownModelWithoutConfigIsUnavailableWithTheFix) {
    m_tree.write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n");
    EstimatedCpuPowerSensor sensor(m_fs, m_clock);
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_NE(sensor.unavailable()[0].reason.find("not in the TDP table"), std::string::npos);
    EXPECT_NE(sensor.unavailable()[0].fix.find("configuration"), std::string::npos);
    EXPECT_FALSE(sensor.full_power());
    std::vector<Sample> s(2, Sample{1, true});
    EXPECT_TRUE(sensor.read(s));
    EXPECT_FALSE(s[0].valid);
}

TEST_F(EstimatedCpuPowerTest, ALostProcStatFailsTheRead) {
    EstimatedCpuPowerSensor sensor(m_fs, m_clock);
    sensor.discover();
    m_tree.remove("proc/stat");
    std::vector<Sample> s(2);
    EXPECT_FALSE(sensor.read(s));
    EXPECT_FALSE(s[0].valid);
}

}  // namespace
}  // namespace joulepilot::sense
