#include "sense/rapl/rapl_sensor.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "unit/sense/node/temp_tree.hpp"

namespace joulepilot::sense {
namespace {

using testing::TempTree;

constexpr std::uint64_t kPackageMax = 262143328850;

std::size_t index_of(const std::vector<SignalInfo>& signals, std::string_view name) {
    const auto it =
        std::find_if(signals.begin(), signals.end(), [&](const SignalInfo& s) { return s.name == name; });
    if (it == signals.end()) throw std::runtime_error("no signal " + std::string(name));
    return static_cast<std::size_t>(it - signals.begin());
}

bool has_signal(const std::vector<SignalInfo>& signals, std::string_view name) {
    return std::any_of(signals.begin(), signals.end(), [&](const SignalInfo& s) { return s.name == name; });
}

class RaplSensorTest : public ::testing::Test {
protected:
    explicit RaplSensorTest(std::string_view fixture = "sysfs/intel-2s")
        : m_tree(fixture), m_fs(m_tree.root()) {}

    void set_energy(std::string_view zone, std::uint64_t energy_uj) const {
        m_tree.write(fmt::format("sys/class/powercap/{}/energy_uj", zone), fmt::format("{}\n", energy_uj));
    }
    std::vector<Sample> read(RaplSensor& sensor, std::size_t count) {
        std::vector<Sample> samples(count, Sample{-1.0, true});  // poisoned: read must set every slot
        last_result = sensor.read(samples);
        return samples;
    }

    TempTree m_tree;
    core::RootedFs m_fs;
    core::ManualClock m_clock{core::Seconds(1000)};
    core::Result<void> last_result;
};

TEST_F(RaplSensorTest, DiscoversTwoSignalsPerDomainOfEachSocket) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 16U);
    for (const char* pkg : {"0", "1"}) {
        for (const char* domain : {"package", "core", "uncore", "dram"}) {
            const auto& energy =
                signals[index_of(signals, fmt::format("cpu.{}.{}_energy_joules_total", pkg, domain))];
            EXPECT_EQ(energy.unit, "J");
            EXPECT_EQ(energy.provenance, Provenance::measured);
            const auto& power = signals[index_of(signals, fmt::format("cpu.{}.{}_power_watts", pkg, domain))];
            EXPECT_EQ(power.unit, "W");
            EXPECT_EQ(power.provenance, Provenance::derived);
        }
    }
    EXPECT_EQ(
        sensor.node_total_signals(),
        (std::vector<std::string>{"cpu.0.package_energy_joules_total", "cpu.0.dram_energy_joules_total",
                                  "cpu.1.package_energy_joules_total", "cpu.1.dram_energy_joules_total"}));
    EXPECT_EQ(sensor.skipped().size(), 2U);  // the MMIO duplicates
    EXPECT_TRUE(sensor.unavailable().empty());
}

TEST_F(RaplSensorTest, EnergyIsTheTotalSinceDiscoveryAndPowerTheMeanOverTheInterval) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    m_clock.advance(core::Seconds(2));
    set_energy("intel-rapl:0", 100000000 + 150000000);  // +150 J in 2 s
    set_energy("intel-rapl:1:2", 30000000 + 9000000);   // +9 J
    auto s = read(sensor, signals.size());
    ASSERT_TRUE(last_result);
    const auto pkg0 = index_of(signals, "cpu.0.package_energy_joules_total");
    EXPECT_TRUE(s[pkg0].valid);
    EXPECT_DOUBLE_EQ(s[pkg0].value, 150.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "cpu.0.package_power_watts")].value, 75.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "cpu.1.dram_energy_joules_total")].value, 9.0);
    EXPECT_DOUBLE_EQ(s[index_of(signals, "cpu.1.dram_power_watts")].value, 4.5);
    const auto core1 = index_of(signals, "cpu.1.core_power_watts");
    EXPECT_TRUE(s[core1].valid);
    EXPECT_DOUBLE_EQ(s[core1].value, 0.0);  // unchanged counter: a real 0 W, not missing
}

TEST_F(RaplSensorTest, ACounterWrappingMidRunLosesNoEnergy) {
    set_energy("intel-rapl:0", kPackageMax - 10'000'000);  // 10 J before the wrap
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    const auto energy = index_of(signals, "cpu.0.package_energy_joules_total");
    const auto power = index_of(signals, "cpu.0.package_power_watts");
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 20'000'000 - 1);  // 10 J to the top, then 20 J after it (0 is the +1 step)
    auto s = read(sensor, signals.size());
    EXPECT_DOUBLE_EQ(s[energy].value, 30.0);
    EXPECT_DOUBLE_EQ(s[power].value, 30.0);
    EXPECT_EQ(sensor.stats().wraps, 1U);
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 45'000'000 - 1);
    s = read(sensor, signals.size());
    EXPECT_DOUBLE_EQ(s[energy].value, 55.0);
    EXPECT_DOUBLE_EQ(s[power].value, 25.0);
}

TEST_F(RaplSensorTest, UnreadableEnergyIsALabelledStateNeverZeroWatts) {
    m_fs.simulate_error("sys/class/powercap/intel-rapl:1/energy_uj");
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    EXPECT_FALSE(has_signal(signals, "cpu.1.package_energy_joules_total"));
    EXPECT_FALSE(has_signal(signals, "cpu.1.package_power_watts"));
    EXPECT_TRUE(has_signal(signals, "cpu.1.dram_power_watts"));
    EXPECT_EQ(signals.size(), 14U);
    const auto unavailable = sensor.unavailable();
    ASSERT_EQ(unavailable.size(), 1U);
    EXPECT_EQ(unavailable[0].what, "intel-rapl:1 (package-1) energy_uj");
    EXPECT_EQ(unavailable[0].reason, "permission denied");
    EXPECT_NE(unavailable[0].fix.find("chmod a+r"), std::string::npos);
    EXPECT_NE(unavailable[0].fix.find("intel-rapl:1/energy_uj"), std::string::npos);
    // package-1 was not silently replaced by its MMIO mirror either: that would read the same counter
    // through a different path and hide the problem on machines where only one is restricted.
    EXPECT_FALSE(has_signal(signals, "cpu.1.package_energy_joules_total"));
}

TEST_F(RaplSensorTest, AllZonesUnreadableOffersNoSignalAndSaysWhy) {
    m_fs.simulate_error("sys/class/powercap");
    RaplSensor sensor(m_fs, m_clock);
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_FALSE(sensor.unavailable().empty());
}

TEST_F(RaplSensorTest, AFailedReadIsMissingAndTheNextGoodReadCoversTheGap) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    const auto energy = index_of(signals, "cpu.0.package_energy_joules_total");
    const auto power = index_of(signals, "cpu.0.package_power_watts");
    m_clock.advance(core::Seconds(1));
    m_tree.write("sys/class/powercap/intel-rapl:0/energy_uj", "garbage\n");
    auto s = read(sensor, signals.size());
    ASSERT_TRUE(last_result);  // the other zones read fine
    EXPECT_FALSE(s[energy].valid);
    EXPECT_FALSE(s[power].valid);
    EXPECT_TRUE(s[index_of(signals, "cpu.1.package_energy_joules_total")].valid);
    m_clock.advance(core::Seconds(1));
    m_tree.remove("sys/class/powercap/intel-rapl:0/energy_uj");
    s = read(sensor, signals.size());
    EXPECT_FALSE(s[energy].valid);
    m_clock.advance(core::Seconds(2));
    set_energy("intel-rapl:0", 100000000 + 40000000);
    s = read(sensor, signals.size());
    EXPECT_DOUBLE_EQ(s[energy].value, 40.0);
    EXPECT_DOUBLE_EQ(s[power].value, 10.0);  // 40 J over the 4 s since the last good read
    EXPECT_EQ(sensor.stats().read_errors, 2U);
}

TEST_F(RaplSensorTest, EveryZoneFailingFailsTheReadNamingTheZone) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    m_tree.remove("sys/class/powercap");
    const auto s = read(sensor, signals.size());
    ASSERT_FALSE(last_result);
    EXPECT_NE(last_result.error().message.find("rapl: read energy_uj (intel-rapl:0): "), std::string::npos);
    EXPECT_TRUE(std::none_of(s.begin(), s.end(), [](const Sample& x) { return x.valid; }));
}

TEST_F(RaplSensorTest, ABackwardStepThatNoWrapExplainsIsACountedReset) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    const auto energy = index_of(signals, "cpu.0.package_energy_joules_total");
    const auto power = index_of(signals, "cpu.0.package_power_watts");
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 100000000 + 5000000);
    read(sensor, signals.size());
    // Back by 50 J: as a wrap that would be ~262 kJ in one second. Implausible: a reset.
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 55000000);
    auto s = read(sensor, signals.size());
    EXPECT_FALSE(s[energy].valid);
    EXPECT_FALSE(s[power].valid);
    EXPECT_EQ(sensor.stats().resets, 1U);
    EXPECT_EQ(sensor.stats().wraps, 0U);
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 58000000);
    s = read(sensor, signals.size());
    EXPECT_DOUBLE_EQ(s[energy].value, 8.0);  // 5 J before the reset + 3 J after it
    EXPECT_DOUBLE_EQ(s[power].value, 3.0);
}

TEST_F(RaplSensorTest, AnImplausibleForwardJumpIsAResetToo) {
    RaplSensorOptions options;
    options.max_plausible_power = core::Watts(1000);
    RaplSensor sensor(m_fs, m_clock, options);
    const auto signals = sensor.discover();
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 100000000 + 2000000000);  // 2 kJ in 1 s
    const auto s = read(sensor, signals.size());
    EXPECT_FALSE(s[index_of(signals, "cpu.0.package_energy_joules_total")].valid);
    EXPECT_EQ(sensor.stats().resets, 1U);
}

TEST_F(RaplSensorTest, NoPowercapMeansNotPresentWithTheDriverFix) {
    const TempTree empty;
    const core::RootedFs fs(empty.root());
    RaplSensor sensor(fs, m_clock);
    EXPECT_TRUE(sensor.discover().empty());
    ASSERT_EQ(sensor.unavailable().size(), 1U);
    EXPECT_EQ(sensor.unavailable()[0].reason, "not present");
    EXPECT_NE(sensor.unavailable()[0].fix.find("modprobe intel_rapl_msr"), std::string::npos);
    std::vector<Sample> none;
    EXPECT_TRUE(sensor.read(none));
}

class AmdRaplSensorTest : public RaplSensorTest {
protected:
    AmdRaplSensorTest() : RaplSensorTest("sysfs/amd-threadripper") {}
};

TEST_F(AmdRaplSensorTest, OneSocketIsCountedOnceHoweverManyDiesMirrorIt) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    ASSERT_EQ(signals.size(), 4U);
    EXPECT_EQ(signals[0].name, "cpu.0.package_energy_joules_total");
    EXPECT_EQ(signals[2].name, "cpu.0.core_energy_joules_total");
    EXPECT_EQ(sensor.node_total_signals(), (std::vector<std::string>{"cpu.0.package_energy_joules_total"}));
    m_clock.advance(core::Seconds(1));
    set_energy("intel-rapl:0", 41000000 + 68000000);
    set_energy("intel-rapl:1", 41000000 + 68000000);  // the mirror moves too, and must not be added
    const auto s = read(sensor, signals.size());
    EXPECT_DOUBLE_EQ(s[1].value, 68.0);
}

class PsysRaplSensorTest : public RaplSensorTest {
protected:
    PsysRaplSensorTest() : RaplSensorTest("sysfs/intel-client") {}
};

TEST_F(PsysRaplSensorTest, PsysIsItsOwnNodeSignalAndNotPartOfTheCpuTotal) {
    RaplSensor sensor(m_fs, m_clock);
    const auto signals = sensor.discover();
    EXPECT_TRUE(has_signal(signals, "node.psys_energy_joules_total"));
    EXPECT_TRUE(has_signal(signals, "node.psys_power_watts"));
    EXPECT_EQ(sensor.node_total_signals(), (std::vector<std::string>{"cpu.0.package_energy_joules_total"}));
}

// The counter property end to end: a sequence of readings written to the fixture file, with wraps, in
// intervals of 1 s; the sensor's total must be the true energy to the microjoule.
TEST(RaplSensorProperty, TotalEqualsTrueEnergyAcrossAnyWraps) {
    const TempTree tree("sysfs/amd-2s");  // AMD: a 32-bit counter with the smallest range
    constexpr std::uint64_t kMax = 65532610987;
    const bool ok = rc::check("sensor total == true energy", [&] {
        core::RootedFs fs(tree.root());
        core::ManualClock clock(core::Seconds(0));
        // Half the cases start within 2 kJ of the top, so that most of them wrap.
        const auto start = *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(0, kMax + 1),
                                           rc::gen::inRange<std::uint64_t>(kMax - 2'000'000'000, kMax + 1));
        // Up to 400 W for 1 s per step: at most 400 J, far below the range, so each step wraps at most once.
        // At most 40 steps per case: each step rewrites a file, and the property is about values, not length.
        const auto steps = *rc::gen::resize(
            40, rc::gen::container<std::vector<std::uint64_t>>(rc::gen::oneOf(
                    rc::gen::inRange<std::uint64_t>(0, 400'000'001), rc::gen::just(std::uint64_t{0}))));
        tree.write("sys/class/powercap/intel-rapl:0/energy_uj", fmt::format("{}\n", start));
        RaplSensor sensor(fs, clock);
        const auto signals = sensor.discover();
        RC_ASSERT(signals.size() == 8U);
        std::vector<Sample> samples(signals.size());
        std::uint64_t raw = start;
        std::uint64_t truth_uj = 0;
        double last_total_j = 0;
        for (const std::uint64_t d : steps) {
            raw = d > kMax - raw ? d - (kMax - raw) - 1 : raw + d;
            truth_uj += d;
            tree.write("sys/class/powercap/intel-rapl:0/energy_uj", fmt::format("{}\n", raw));
            clock.advance(core::Seconds(1));
            RC_ASSERT(sensor.read(samples).has_value());
            RC_ASSERT(samples[0].valid);
            RC_ASSERT(samples[1].valid);
            RC_ASSERT(samples[1].value == static_cast<double>(d) * 1e-6);
            last_total_j = samples[0].value;
        }
        // Compare in microjoules: the total is kept as an integer and converted once.
        RC_ASSERT(static_cast<std::uint64_t>(std::llround(last_total_j * 1e6)) == truth_uj);
        RC_ASSERT(sensor.stats().resets == 0U);
        RC_CLASSIFY(sensor.stats().wraps > 0, "wrapped");
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::sense
