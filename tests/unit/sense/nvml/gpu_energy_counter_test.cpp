#include "sense/nvml/gpu_energy_counter.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdint>
#include <vector>

namespace joulepilot::sense {
namespace {

TEST(GpuEnergyCounter, CountsFromTheFirstReading) {
    GpuEnergyCounter counter(5'000);
    EXPECT_EQ(counter.total_mj(), 0u);
    counter.update(5'250);
    counter.update(6'000);
    EXPECT_EQ(counter.total_mj(), 1'000u);
    EXPECT_EQ(counter.total_joules(), 1.0);
}

TEST(GpuEnergyCounter, AGlitchBelowTheMarkIsNeitherLostNorCountedTwice) {
    GpuEnergyCounter counter(1'000);
    counter.update(1'500);
    counter.update(900);  // glitch
    EXPECT_EQ(counter.total_mj(), 500u);
    counter.update(1'510);
    EXPECT_EQ(counter.total_mj(), 510u);
    EXPECT_EQ(counter.backward_steps(), 1u);
    EXPECT_EQ(counter.resets(), 0u);
}

TEST(GpuEnergyCounter, AResetIsConfirmedByTheNextReadingAndCountingResumes) {
    GpuEnergyCounter counter(1'000'000);
    counter.update(1'002'000);  // +2000
    counter.update(40);         // driver reloaded: pending
    EXPECT_EQ(counter.total_mj(), 2'000u);
    counter.update(340);  // still low, counting up: a reset, +300 from the pending reading
    EXPECT_EQ(counter.total_mj(), 2'300u);
    counter.update(1'340);
    EXPECT_EQ(counter.total_mj(), 3'300u);
    EXPECT_EQ(counter.backward_steps(), 1u);
    EXPECT_EQ(counter.resets(), 1u);
}

TEST(GpuEnergyCounter, KeepsFallingReadingsPendingWithoutCountingThem) {
    GpuEnergyCounter counter(1'000);
    counter.update(800);
    counter.update(600);
    counter.update(500);
    EXPECT_EQ(counter.total_mj(), 0u);
    EXPECT_EQ(counter.backward_steps(), 1u);
    counter.update(700);
    EXPECT_EQ(counter.total_mj(), 200u);
    EXPECT_EQ(counter.resets(), 1u);
}

TEST(GpuEnergyCounter, LargeCountersStayExact) {
    const std::uint64_t base = (std::uint64_t{1} << 52) + 7;
    GpuEnergyCounter counter(base);
    counter.update(base + 123'456'789);
    EXPECT_EQ(counter.total_mj(), 123'456'789u);
    EXPECT_EQ(counter.total_joules(), 123'456.789);
}

// Without backward steps the total is exactly the counter's movement.
RC_GTEST_PROP(GpuEnergyCounter, TotalIsTheExactSumOfIncrements,
              (std::uint32_t start, std::vector<std::uint32_t> steps)) {
    GpuEnergyCounter counter(start);
    std::uint64_t reading = start;
    std::uint64_t expected = 0;
    for (const std::uint32_t step : steps) {
        reading += step;
        expected += step;
        counter.update(reading);
    }
    RC_ASSERT(counter.total_mj() == expected);
    RC_ASSERT(counter.backward_steps() == 0u);
}

// Whatever the counter does, the total never falls and never exceeds what really moved upward.
RC_GTEST_PROP(GpuEnergyCounter, NeverDecreasesNorInventsEnergy,
              (std::uint32_t start, std::vector<std::int32_t> moves)) {
    GpuEnergyCounter counter(start);
    std::int64_t reading = start;
    std::uint64_t upward = 0;
    std::uint64_t last_total = 0;
    for (const std::int32_t move : moves) {
        reading = std::max<std::int64_t>(0, reading + move);
        if (move > 0) upward += static_cast<std::uint64_t>(move);
        counter.update(static_cast<std::uint64_t>(reading));
        RC_ASSERT(counter.total_mj() >= last_total);
        RC_ASSERT(counter.total_mj() <= upward);
        last_total = counter.total_mj();
    }
}

// Isolated one-reading glitches anywhere in a rising sequence cost nothing.
RC_GTEST_PROP(GpuEnergyCounter, IsolatedGlitchesAreFree, (std::vector<std::uint16_t> steps)) {
    const std::uint64_t start = 1'000'000;
    GpuEnergyCounter counter(start);
    std::uint64_t reading = start;
    bool glitch_next = false;
    for (const std::uint16_t step : steps) {
        reading += step;
        if (glitch_next) counter.update(reading - *rc::gen::inRange<std::uint64_t>(1, reading));
        counter.update(reading);
        glitch_next = step % 3 == 0;
    }
    RC_ASSERT(counter.total_mj() == reading - start);
}

}  // namespace
}  // namespace joulepilot::sense
