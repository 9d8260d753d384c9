#include "act/knob.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::act {
namespace {

TEST(KnobDomain, ClampsIntoRangeAndSnapsToStep) {
    const KnobDomain d{200, 700, 10, {}};
    EXPECT_EQ(d.clamp(1000), 700);
    EXPECT_EQ(d.clamp(0), 200);
    EXPECT_EQ(d.clamp(333), 330);
    EXPECT_TRUE(d.contains(450));
    EXPECT_FALSE(d.contains(701));
}

TEST(KnobDomain, SetDomainsPickTheNearestValue) {
    const KnobDomain d{8, 512, 0, {8, 64, 256, 512}};
    EXPECT_EQ(d.clamp(100), 64);
    EXPECT_EQ(d.clamp(1e9), 512);
    EXPECT_TRUE(d.contains(256));
    EXPECT_FALSE(d.contains(100));
}

TEST(KnobDomain, ClampAlwaysLandsInsideTheDomain) {
    rc::check([](double value) {
        const KnobDomain range{210e6, 1980e6, 15e6, {}};
        const KnobDomain set{0, 1, 0, {0, 1}};
        if (!std::isfinite(value)) return;
        RC_ASSERT(range.contains(range.clamp(value)));
        RC_ASSERT(set.contains(set.clamp(value)));
    });
}

TEST(KnobSpace, FindsKnobsByName) {
    KnobSpace space;
    space.add(Knob{"a", "W", KnobDomain{0, 1, 0, {}}, 1, 1});
    space.add(Knob{"b", "W", KnobDomain{0, 1, 0, {}}, 0, 0});
    EXPECT_EQ(space.find("b"), 1u);
    EXPECT_FALSE(space.find("c"));
    EXPECT_EQ(space.get("a")->default_value, 1);
    EXPECT_EQ(space.get("zz"), nullptr);
}

}  // namespace
}  // namespace joulepilot::act
