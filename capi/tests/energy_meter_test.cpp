#include "energy_meter.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace joulepilot::capi {
namespace {

// A sensor whose energy counters advance by fixed steps on every read; a counter can be made unreadable.
class ScriptedSensor final : public sense::Sensor {
  public:
    struct Counter {
        std::string signal;
        double step_joules;
        double value = 0.0;
        bool readable = true;
    };

    explicit ScriptedSensor(std::vector<Counter> counters, int* reads = nullptr)
        : m_counters(std::move(counters)), m_reads(reads) {}

    [[nodiscard]] std::string name() const override { return "scripted"; }
    std::vector<sense::SignalInfo> discover() override {
        std::vector<sense::SignalInfo> signals;
        signals.push_back({"node.power_watts", "W", sense::Provenance::measured, ""});  // not a domain
        for (const Counter& c : m_counters)
            signals.push_back({c.signal, "J", sense::Provenance::measured, ""});
        return signals;
    }
    core::Result<void> read(std::span<sense::Sample> samples) override {
        if (m_reads != nullptr) ++*m_reads;
        samples[0] = sense::Sample{100.0, true};
        for (std::size_t i = 0; i < m_counters.size(); ++i) {
            Counter& c = m_counters[i];
            c.value += c.step_joules;
            samples[i + 1] = c.readable ? sense::Sample{c.value, true} : sense::Sample{};
        }
        return {};
    }
    [[nodiscard]] std::vector<sense::Unavailable> unavailable() const override {
        return {{"scripted thing", "not present", ""}};
    }
    Counter& counter(std::size_t i) { return m_counters[i]; }

  private:
    std::vector<Counter> m_counters;
    int* m_reads;
};

struct Fixture {
    core::ManualClock clock{core::Seconds(100)};
    ScriptedSensor* sensor = nullptr;  // owned by the meter
    int reads = 0;
    std::unique_ptr<EnergyMeter> meter;

    Fixture() {
        auto owned = std::make_unique<ScriptedSensor>(
            std::vector<ScriptedSensor::Counter>{{"gpu.0.energy_joules_total", 2.0},
                                                 {"cpu.0.package_energy_joules_total", 0.5}},
            &reads);
        sensor = owned.get();
        std::vector<std::unique_ptr<sense::Sensor>> sensors;
        sensors.push_back(std::move(owned));
        meter = std::make_unique<EnergyMeter>(std::move(sensors), clock);
    }
};

TEST(EnergyDomainName, ComesFromEnergyCountersOnly) {
    EXPECT_EQ(energy_domain_name({"gpu.3.energy_joules_total", "J", {}, ""}), "gpu.3");
    EXPECT_EQ(energy_domain_name({"cpu.0.package_energy_joules_total", "J", {}, ""}), "cpu.0.package");
    EXPECT_EQ(energy_domain_name({"gpu.3.power_watts", "W", {}, ""}), std::nullopt);
    EXPECT_EQ(energy_domain_name({"gpu.3.energy_joules_total", "W", {}, ""}), std::nullopt);
    EXPECT_EQ(energy_domain_name({"energy_joules_total", "J", {}, ""}), std::nullopt);
    EXPECT_EQ(energy_domain_name({"gpu.3xenergy_joules_total", "J", {}, ""}), std::nullopt);
}

TEST(EnergyMeter, DomainsAreTheSensorsEnergyCounters) {
    Fixture f;
    ASSERT_EQ(f.meter->domains().size(), 2u);
    EXPECT_EQ(f.meter->domains()[0].name, "gpu.0");
    EXPECT_EQ(f.meter->domains()[1].name, "cpu.0.package");
    EXPECT_EQ(f.meter->domains()[1].signal, "cpu.0.package_energy_joules_total");
    EXPECT_EQ(f.meter->unavailable().size(), 1u);
    EXPECT_EQ(f.reads, 0);  // discovery reads nothing
}

TEST(EnergyMeter, AWindowIsTheCounterDifferenceBetweenItsEdges) {
    Fixture f;
    const auto id = f.meter->begin("prefill");
    ASSERT_TRUE(id);
    f.clock.advance(core::Seconds(1.5));
    ASSERT_TRUE(f.meter->end(*id));
    const auto reading = f.meter->reading(*id);
    ASSERT_TRUE(reading);
    EXPECT_EQ(reading->name, "prefill");
    EXPECT_TRUE(reading->ended);
    EXPECT_EQ(reading->duration, core::Seconds(1.5));
    EXPECT_EQ(reading->joules[0], core::Joules(2.0));
    EXPECT_EQ(reading->joules[1], core::Joules(0.5));
    EXPECT_EQ(f.reads, 2);  // one read per edge; reading an ended window reads nothing
}

TEST(EnergyMeter, NestedWindowsEachSeeTheirOwnSpan) {
    Fixture f;
    const auto outer = f.meter->begin("request");  // read 1
    const auto inner = f.meter->begin("prefill");  // read 2
    ASSERT_TRUE(f.meter->end(*inner));             // read 3
    const auto inner2 = f.meter->begin("decode");  // read 4
    ASSERT_TRUE(f.meter->end(*inner2));            // read 5
    ASSERT_TRUE(f.meter->end(*outer));             // read 6
    EXPECT_EQ(f.meter->reading(*inner)->joules[0], core::Joules(2.0));
    EXPECT_EQ(f.meter->reading(*inner2)->joules[0], core::Joules(2.0));
    EXPECT_EQ(f.meter->reading(*outer)->joules[0], core::Joules(10.0));
    EXPECT_EQ(f.meter->windows_held(), 3u);
}

TEST(EnergyMeter, AnOpenWindowReadsUpToNow) {
    Fixture f;
    const auto id = f.meter->begin("open");
    const auto so_far = f.meter->reading(*id);
    ASSERT_TRUE(so_far);
    EXPECT_FALSE(so_far->ended);
    EXPECT_EQ(so_far->joules[0], core::Joules(2.0));
}

TEST(EnergyMeter, ACounterUnreadableAtAnEdgeIsUnknownNotZero) {
    Fixture f;
    const auto id = f.meter->begin("w");
    f.sensor->counter(0).readable = false;
    ASSERT_TRUE(f.meter->end(*id));
    const auto reading = f.meter->reading(*id);
    EXPECT_EQ(reading->joules[0], std::nullopt);
    EXPECT_EQ(reading->joules[1], core::Joules(0.5));
}

TEST(EnergyMeter, MisuseIsReportedWithItsKind) {
    Fixture f;
    const auto id = f.meter->begin("w");
    ASSERT_TRUE(f.meter->end(*id));
    const auto twice = f.meter->end(*id);
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().kind, WindowErrorKind::already_ended);
    EXPECT_NE(twice.error().message.find("('w') already ended"), std::string::npos);
    ASSERT_TRUE(f.meter->release(*id));
    EXPECT_EQ(f.meter->release(*id).error().kind, WindowErrorKind::not_found);
    EXPECT_EQ(f.meter->reading(*id).error().kind, WindowErrorKind::not_found);
    EXPECT_EQ(f.meter->end(12345).error().kind, WindowErrorKind::not_found);
}

TEST(EnergyMeter, HoldsABoundedNumberOfWindows) {
    Fixture f;
    for (std::size_t i = 0; i < EnergyMeter::kMaxWindows; ++i) ASSERT_TRUE(f.meter->begin("w"));
    const auto one_more = f.meter->begin("w");
    ASSERT_FALSE(one_more);
    EXPECT_EQ(one_more.error().kind, WindowErrorKind::limit);
}

TEST(EnergyMeter, WindowsFromManyThreadsAreSerialisedAndConserveEnergy) {
    core::ManualClock clock;
    auto owned = std::make_unique<ScriptedSensor>(
        std::vector<ScriptedSensor::Counter>{{"gpu.0.energy_joules_total", 1.0}});
    std::vector<std::unique_ptr<sense::Sensor>> sensors;
    sensors.push_back(std::move(owned));
    EnergyMeter meter(std::move(sensors), clock);

    constexpr int kThreads = 4;
    constexpr int kWindows = 200;
    std::vector<std::thread> threads;
    std::vector<double> totals(kThreads, 0.0);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kWindows; ++i) {
                const auto id = meter.begin("t" + std::to_string(t));
                ASSERT_TRUE(id);
                ASSERT_TRUE(meter.end(*id));
                totals[t] += meter.reading(*id)->joules[0]->value();
                ASSERT_TRUE(meter.release(*id));
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    // Each window spans at least its own end read (1 J); all of them together span every read once or
    // more, never less: the sensor was read exactly 2 x kThreads x kWindows times.
    double sum = 0.0;
    for (double total : totals) {
        EXPECT_GE(total, kWindows * 1.0);
        sum += total;
    }
    EXPECT_LE(sum, 2.0 * kThreads * kWindows * kThreads);
    EXPECT_EQ(meter.windows_held(), 0u);
}

}  // namespace
}  // namespace joulepilot::capi
