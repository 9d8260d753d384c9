#include "decide/knob_queries.hpp"

#include <gtest/gtest.h>

namespace joulepilot::decide {
namespace {

act::Knob knob(std::string name) { return {std::move(name), "", act::KnobDomain{0, 1, 0, {}}, 0, 0}; }

TEST(KnobQueries, IndicesOfMatchingNamesOnly) {
    act::KnobSpace knobs;
    for (const char* name : {"gpu.10.sm_clock_cap_hz", "gpu.2.sm_clock_cap_hz", "gpu.2.power_limit_watts",
                             "gpu.x.sm_clock_cap_hz", "gpu..sm_clock_cap_hz", "gpus.3.sm_clock_cap_hz",
                             "gpu.4.sm_clock_cap_hz_max", "gpu.-1.sm_clock_cap_hz",
                             "replica.5.sm_clock_cap_hz", "gpu.0.sm_clock_cap_hz"}) {
        knobs.add(knob(name));
    }
    EXPECT_EQ(knob_indices(knobs, "gpu", "sm_clock_cap_hz"), (std::vector<int>{0, 2, 10}));
    EXPECT_EQ(knob_indices(knobs, "gpu", "power_limit_watts"), (std::vector<int>{2}));
    EXPECT_TRUE(knob_indices(knobs, "replica", "active").empty());
    EXPECT_TRUE(knob_indices(act::KnobSpace{}, "gpu", "sm_clock_cap_hz").empty());
}

TEST(KnobQueries, DomainExtremes) {
    const act::KnobDomain clock{210e6, 1980e6, 15e6, {}};
    EXPECT_DOUBLE_EQ(lowest_value(clock), 210e6);
    EXPECT_DOUBLE_EQ(highest_value(clock), 1980e6);
    const act::KnobDomain off_grid{0, 10, 3, {}};  // 0, 3, 6, 9: 10 is not on the grid
    EXPECT_DOUBLE_EQ(highest_value(off_grid), 9);
    const act::KnobDomain set{8, 512, 0, {64, 8, 512, 256}};
    EXPECT_DOUBLE_EQ(lowest_value(set), 8);
    EXPECT_DOUBLE_EQ(highest_value(set), 512);
    const act::KnobDomain continuous{0.5, 2.5, 0, {}};
    EXPECT_DOUBLE_EQ(highest_value(continuous), 2.5);
}

}  // namespace
}  // namespace joulepilot::decide
