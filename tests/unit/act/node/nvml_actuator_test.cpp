// NvmlActuator on the fake NVML library (tests/fakes/nvml, a test double loaded with dlopen like the real
// one); the real libnvidia-ml is never loaded here: every actuator gets the fake's path explicitly.
#include "act/nvml/nvml_actuator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sense/nvml/nvml_library.hpp"
#include "unit/act/node/fake_nvml_log.hpp"
#include "unit/sense/nvml/fake_nvml_control.hpp"

namespace joulepilot::act {
namespace {

using testing::FakeNvml;
using testing::FakeNvmlLog;

NvmlActuatorOptions fake_options() {
    NvmlActuatorOptions options;
    options.library_path = testing::kFakeNvml;
    return options;
}

const Knob* find_knob(const std::vector<Knob>& knobs, const std::string& name) {
    const auto it = std::find_if(knobs.begin(), knobs.end(), [&](const Knob& k) { return k.name == name; });
    return it == knobs.end() ? nullptr : &*it;
}

bool mentions(const std::vector<sense::Unavailable>& entries, const std::string& what,
              const std::string& text) {
    return std::any_of(entries.begin(), entries.end(), [&](const sense::Unavailable& u) {
        return u.what == what && u.reason.find(text) != std::string::npos;
    });
}

class NvmlActuatorTest : public ::testing::Test {
protected:
    void SetUp() override { fake.apply("device_count 2\n"); }

    FakeNvml fake;
    FakeNvmlLog log;
};

TEST_F(NvmlActuatorTest, DiscoversPowerLimitAndClockKnobsInSiUnits) {
    fake.apply("device 0 power_limit_mw 450000\ndevice all default_power_limit_mw 600000\n");
    NvmlActuator actuator(fake_options());
    const auto knobs = actuator.discover();
    ASSERT_EQ(knobs.size(), 4U);
    const Knob* power = find_knob(knobs, "gpu.0.power_limit_watts");
    ASSERT_NE(power, nullptr);
    EXPECT_EQ(power->unit, "W");
    EXPECT_DOUBLE_EQ(power->domain.min, 200.0);
    EXPECT_DOUBLE_EQ(power->domain.max, 700.0);
    EXPECT_DOUBLE_EQ(power->domain.step, 5.0);
    EXPECT_DOUBLE_EQ(power->default_value, 600.0);
    EXPECT_DOUBLE_EQ(power->current, 450.0);

    const Knob* clock = find_knob(knobs, "gpu.1.sm_clock_cap_hz");
    ASSERT_NE(clock, nullptr);
    EXPECT_EQ(clock->unit, "Hz");
    ASSERT_EQ(clock->domain.values.size(), 119U);  // 210..1980 MHz in 15 MHz steps
    EXPECT_DOUBLE_EQ(clock->domain.min, 210e6);
    EXPECT_DOUBLE_EQ(clock->domain.max, 1980e6);
    EXPECT_DOUBLE_EQ(clock->default_value, 1980e6);
    EXPECT_DOUBLE_EQ(clock->current, 1980e6);  // not capped
    EXPECT_TRUE(actuator.available());
    // Discovery writes nothing.
    EXPECT_EQ(log.size(), 0U);
}

TEST_F(NvmlActuatorTest, WritesMilliwattsAndMegahertzAtTheEdge) {
    NvmlActuator actuator(fake_options());
    actuator.discover();
    ASSERT_TRUE(actuator.save());
    const std::vector<KnobSetting> batch{{"gpu.0.power_limit_watts", 300.0},
                                         {"gpu.1.sm_clock_cap_hz", 1200e6}};
    ASSERT_TRUE(actuator.apply(batch));
    EXPECT_EQ(log.entries(), (std::vector<std::string>{"nvmlDeviceSetPowerManagementLimit 0 300000",
                                                       "nvmlDeviceSetGpuLockedClocks 1 210 1200"}));
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 300000);
    EXPECT_EQ(fake.device_value(1, "locked_sm_max_mhz"), 1200);
    const auto values = actuator.current();
    EXPECT_DOUBLE_EQ(values[0], 300.0);   // gpu.0.power_limit_watts
    EXPECT_DOUBLE_EQ(values[3], 1200e6);  // gpu.1.sm_clock_cap_hz
}

TEST_F(NvmlActuatorTest, TheHighestClockRemovesTheCapWithAReset) {
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> cap{{"gpu.0.sm_clock_cap_hz", 990e6}};
    ASSERT_TRUE(actuator.apply(cap));
    const std::vector<KnobSetting> uncap{{"gpu.0.sm_clock_cap_hz", 1980e6}};
    ASSERT_TRUE(actuator.apply(uncap));
    EXPECT_EQ(log.entries().back(), "nvmlDeviceResetGpuLockedClocks 0");
    EXPECT_EQ(fake.device_value(0, "locked_sm_max_mhz"), 0);
    EXPECT_DOUBLE_EQ(actuator.current()[1], 1980e6);
}

TEST_F(NvmlActuatorTest, RestoresEveryChangedKnobMostRecentFirst) {
    fake.apply("device 1 power_limit_mw 450000\n");
    NvmlActuator actuator(fake_options());
    actuator.discover();
    ASSERT_TRUE(actuator.save());
    const std::vector<KnobSetting> first{{"gpu.0.power_limit_watts", 300.0},
                                         {"gpu.1.sm_clock_cap_hz", 1200e6}};
    ASSERT_TRUE(actuator.apply(first));
    const std::vector<KnobSetting> second{{"gpu.1.power_limit_watts", 400.0}};
    ASSERT_TRUE(actuator.apply(second));
    const std::vector<KnobSetting> third{
        {"gpu.0.power_limit_watts", 350.0}};  // changed again: now the latest
    ASSERT_TRUE(actuator.apply(third));
    EXPECT_EQ(actuator.changed(),
              (std::vector<std::string>{"gpu.1.sm_clock_cap_hz", "gpu.1.power_limit_watts",
                                        "gpu.0.power_limit_watts"}));

    const std::size_t before_restore = log.size();
    ASSERT_TRUE(actuator.restore());
    EXPECT_EQ(log.since(before_restore),
              (std::vector<std::string>{"nvmlDeviceSetPowerManagementLimit 0 700000",
                                        "nvmlDeviceSetPowerManagementLimit 1 450000",
                                        "nvmlDeviceResetGpuLockedClocks 1"}));
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
    EXPECT_EQ(fake.device_value(1, "power_limit_mw"), 450000);
    EXPECT_EQ(fake.device_value(1, "locked_sm_max_mhz"), 0);
    EXPECT_TRUE(actuator.changed().empty());
    // A second restore has nothing left to write.
    ASSERT_TRUE(actuator.restore());
    EXPECT_EQ(log.size(), before_restore + 3);
}

TEST_F(NvmlActuatorTest, SaveNeverOverwritesTheOriginalOfAChangedKnob) {
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> batch{{"gpu.0.power_limit_watts", 300.0}};
    ASSERT_TRUE(actuator.apply(batch));  // no save() first: apply records the original itself
    ASSERT_TRUE(actuator.save());        // must not take 300 W as the original
    ASSERT_TRUE(actuator.restore());
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
}

TEST_F(NvmlActuatorTest, PermissionErrorNamesTheGpuTheKnobAndTheFix) {
    fake.apply("error nvmlDeviceSetPowerManagementLimit NO_PERMISSION\n");
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> batch{{"gpu.1.power_limit_watts", 300.0}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    const std::string& message = result.error().message;
    EXPECT_NE(message.find("GPU 1 (NVIDIA H100 80GB HBM3)"), std::string::npos) << message;
    EXPECT_NE(message.find("gpu.1.power_limit_watts"), std::string::npos) << message;
    EXPECT_NE(message.find("Insufficient Permissions"), std::string::npos) << message;
    EXPECT_NE(message.find("CAP_SYS_ADMIN"), std::string::npos) << message;
    EXPECT_EQ(fake.device_value(1, "power_limit_mw"), 700000);
    EXPECT_TRUE(actuator.changed().empty());
}

TEST_F(NvmlActuatorTest, AFailedWriteUndoesTheRestOfItsBatch) {
    fake.apply("device 1 error nvmlDeviceSetGpuLockedClocks NOT_SUPPORTED\n");
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> batch{{"gpu.0.power_limit_watts", 300.0},
                                         {"gpu.0.sm_clock_cap_hz", 1500e6},
                                         {"gpu.1.sm_clock_cap_hz", 1500e6}};
    const auto result = actuator.apply(batch);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("turn the knob off"), std::string::npos) << result.error().message;
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
    EXPECT_EQ(fake.device_value(0, "locked_sm_max_mhz"), 0);
    EXPECT_TRUE(actuator.changed().empty());
    EXPECT_EQ(log.entries().back(), "nvmlDeviceSetPowerManagementLimit 0 700000");

    // NOT_SUPPORTED is remembered: the next write to that knob fails without calling NVML.
    const auto calls = fake.calls("nvmlDeviceSetGpuLockedClocks");
    const std::vector<KnobSetting> again{{"gpu.1.sm_clock_cap_hz", 1500e6}};
    EXPECT_FALSE(actuator.apply(again));
    EXPECT_EQ(fake.calls("nvmlDeviceSetGpuLockedClocks"), calls);
}

TEST_F(NvmlActuatorTest, ALostGpuIsNotWrittenAgainAndTheOthersKeepWorking) {
    fake.apply("device 1 error nvmlDeviceSetPowerManagementLimit GPU_IS_LOST\n");
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> lost{{"gpu.1.power_limit_watts", 300.0}};
    const auto result = actuator.apply(lost);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("fell off the bus"), std::string::npos) << result.error().message;
    const auto calls = fake.calls("nvmlDeviceSetGpuLockedClocks");
    const std::vector<KnobSetting> clock{{"gpu.1.sm_clock_cap_hz", 1500e6}};
    const auto second = actuator.apply(clock);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("lost"), std::string::npos);
    EXPECT_EQ(fake.calls("nvmlDeviceSetGpuLockedClocks"), calls);

    const std::vector<KnobSetting> fine{{"gpu.0.power_limit_watts", 300.0}};
    EXPECT_TRUE(actuator.apply(fine));
    EXPECT_TRUE(actuator.restore());
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
}

TEST_F(NvmlActuatorTest, MigGpusGetNoKnobs) {
    fake.apply("device 1 mig_mode 1\ndevice 1 mig_instances 3\n");
    NvmlActuator actuator(fake_options());
    const auto knobs = actuator.discover();
    EXPECT_EQ(knobs.size(), 2U);
    EXPECT_EQ(find_knob(knobs, "gpu.1.power_limit_watts"), nullptr);
    EXPECT_EQ(find_knob(knobs, "gpu.1.sm_clock_cap_hz"), nullptr);
    EXPECT_TRUE(mentions(actuator.unavailable(), "GPU 1 knobs", "MIG"));
    EXPECT_EQ(fake.calls("nvmlDeviceGetMigDeviceHandleByIndex"), 0U);  // never reaches for an instance
}

TEST_F(NvmlActuatorTest, ConfiguredBoundsNarrowTheDomains) {
    NvmlActuatorOptions options = fake_options();
    options.power_limit_min = core::Watts(300);
    options.power_limit_max = core::Watts(650);
    options.power_limit_step = core::Watts(10);
    options.sm_clock_min = core::from_mhz(900);
    NvmlActuator actuator(options);
    const auto knobs = actuator.discover();
    const Knob* power = find_knob(knobs, "gpu.0.power_limit_watts");
    ASSERT_NE(power, nullptr);
    EXPECT_DOUBLE_EQ(power->domain.min, 300.0);
    EXPECT_DOUBLE_EQ(power->domain.max, 650.0);
    EXPECT_DOUBLE_EQ(power->domain.step, 10.0);
    const Knob* clock = find_knob(knobs, "gpu.0.sm_clock_cap_hz");
    ASSERT_NE(clock, nullptr);
    EXPECT_DOUBLE_EQ(clock->domain.min, 900e6);
    // The lock still starts at the lowest supported clock: the knob caps, it does not pin.
    const std::vector<KnobSetting> batch{{"gpu.0.sm_clock_cap_hz", 900e6}};
    ASSERT_TRUE(actuator.apply(batch));
    EXPECT_EQ(log.entries().back(), "nvmlDeviceSetGpuLockedClocks 0 210 900");
    // Crash recovery applies originals directly; one outside the configured bounds (700 W) goes back.
    const std::vector<KnobSetting> original{{"gpu.0.power_limit_watts", 700.0}};
    ASSERT_TRUE(actuator.apply(original));
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
}

TEST_F(NvmlActuatorTest, RefusesValuesOutsideTheDomainWithoutWriting) {
    NvmlActuator actuator(fake_options());
    actuator.discover();
    const std::vector<KnobSetting> low{{"gpu.0.power_limit_watts", 150.0}};
    const auto result = actuator.apply(low);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("200..700 W"), std::string::npos) << result.error().message;
    const std::vector<KnobSetting> odd_clock{{"gpu.0.sm_clock_cap_hz", 1000e6}};  // not a supported clock
    EXPECT_FALSE(actuator.apply(odd_clock));
    const std::vector<KnobSetting> unknown{{"gpu.0.power_limit_watts", 300.0},
                                           {"gpu.7.power_limit_watts", 300.0}};
    const auto unknown_result = actuator.apply(unknown);
    ASSERT_FALSE(unknown_result);
    EXPECT_NE(unknown_result.error().message.find("gpu.7.power_limit_watts"), std::string::npos);
    EXPECT_EQ(log.size(), 0U);
}

TEST_F(NvmlActuatorTest, DestructionRestoresWhatIsStillChanged) {
    {
        NvmlActuator actuator(fake_options());
        actuator.discover();
        const std::vector<KnobSetting> batch{{"gpu.0.power_limit_watts", 250.0},
                                             {"gpu.1.sm_clock_cap_hz", 600e6}};
        ASSERT_TRUE(actuator.apply(batch));
    }
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
    EXPECT_EQ(fake.device_value(1, "locked_sm_max_mhz"), 0);
}

TEST_F(NvmlActuatorTest, NoLibraryMeansNoKnobsAndAReason) {
    NvmlActuatorOptions options;
    options.library_path = "/nonexistent/libnvidia-ml-missing.so.1";
    NvmlActuator actuator(options);
    EXPECT_TRUE(actuator.discover().empty());
    EXPECT_FALSE(actuator.available());
    ASSERT_FALSE(actuator.unavailable().empty());
    EXPECT_NE(actuator.unavailable().front().reason.find("/nonexistent/libnvidia-ml-missing.so.1"),
              std::string::npos);
}

// A library without the set / clock-list entry points (an old driver) still loads; it just offers no knobs.
TEST(NvmlActuatorOptionalSymbols, ALibraryWithoutActuationEntryPointsLoadsAndOffersNoKnobs) {
    FakeNvml fake(JOULEPILOT_FAKE_NVML_NOACT);
    fake.apply("device_count 1\n");
    NvmlActuatorOptions options;
    options.library_path = JOULEPILOT_FAKE_NVML_NOACT;
    NvmlActuator actuator(options);
    EXPECT_TRUE(actuator.discover().empty());
    EXPECT_TRUE(actuator.available());
    EXPECT_TRUE(mentions(actuator.unavailable(), "GPU 0 power limit", "lacks"));
    EXPECT_TRUE(mentions(actuator.unavailable(), "GPU 0 SM clock cap", "lacks"));
}

TEST_F(NvmlActuatorTest, UnsupportedClockQueriesLeaveOnlyThePowerKnob) {
    fake.apply("device 0 error nvmlDeviceGetSupportedGraphicsClocks NOT_SUPPORTED\n");
    NvmlActuator actuator(fake_options());
    const auto knobs = actuator.discover();
    EXPECT_NE(find_knob(knobs, "gpu.0.power_limit_watts"), nullptr);
    EXPECT_EQ(find_knob(knobs, "gpu.0.sm_clock_cap_hz"), nullptr);
    EXPECT_NE(find_knob(knobs, "gpu.1.sm_clock_cap_hz"), nullptr);
    EXPECT_TRUE(mentions(actuator.unavailable(), "GPU 0 SM clock cap", "Not Supported"));
}

// The fake behaves like the driver where the actuator relies on it: out-of-range values are refused.
TEST_F(NvmlActuatorTest, FakeRefusesOutOfRangeValuesLikeTheDriver) {
    auto library = sense::NvmlLibrary::open(testing::kFakeNvml);
    ASSERT_TRUE(library);
    auto session = sense::NvmlSession::open(**library);
    ASSERT_TRUE(session);
    const auto& f = (*library)->functions();
    ASSERT_NE(f.device_set_power_management_limit, nullptr);
    ASSERT_NE(f.device_set_gpu_locked_clocks, nullptr);
    sense::nvml_abi::Device device = nullptr;
    ASSERT_EQ(f.device_get_handle_by_index(0, &device), sense::nvml_abi::kSuccess);
    EXPECT_EQ(f.device_set_power_management_limit(device, 100000), sense::nvml_abi::kErrorInvalidArgument);
    EXPECT_EQ(f.device_set_power_management_limit(device, 800000), sense::nvml_abi::kErrorInvalidArgument);
    EXPECT_EQ(f.device_set_gpu_locked_clocks(device, 210, 2500), sense::nvml_abi::kErrorInvalidArgument);
    EXPECT_EQ(f.device_set_gpu_locked_clocks(device, 1500, 900), sense::nvml_abi::kErrorInvalidArgument);
    EXPECT_EQ(fake.device_value(0, "power_limit_mw"), 700000);
    EXPECT_EQ(log.size(), 0U);
}

TEST(NvmlActuatorConfig, ReadsActNvmlAndRejectsCrossedBounds) {
    auto doc = core::ConfigDocument::parse(
        "[act.nvml]\npower_limit_min_watts = 250\npower_limit_max_watts = 600\nsm_clock_cap = false\n"
        "sm_clock_min_mhz = 900\nmin_interval_s = 30\n",
        "test.toml");
    const NvmlActuatorConfig config = read_nvml_actuator_config(doc.root().section("act").section("nvml"));
    EXPECT_TRUE(config.enable);
    EXPECT_FALSE(config.options.sm_clock_cap);
    EXPECT_TRUE(config.options.power_limit);
    EXPECT_DOUBLE_EQ(config.options.power_limit_min->value(), 250.0);
    EXPECT_DOUBLE_EQ(config.options.power_limit_max->value(), 600.0);
    EXPECT_DOUBLE_EQ(config.options.sm_clock_min->value(), 900e6);
    EXPECT_DOUBLE_EQ(config.options.power_limit_step.value(), 5.0);
    EXPECT_DOUBLE_EQ(config.min_interval.value(), 30.0);
    EXPECT_NO_THROW(doc.reject_unknown_keys());

    auto crossed = core::ConfigDocument::parse(
        "[act.nvml]\npower_limit_min_watts = 600\npower_limit_max_watts = 250\n", "test.toml");
    try {
        read_nvml_actuator_config(crossed.root().section("act").section("nvml"));
        FAIL() << "crossed bounds accepted";
    } catch (const core::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("act.nvml.power_limit_min_watts"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace joulepilot::act
