#include "decide/fleet_plan.hpp"

#include <gtest/gtest.h>

#include "fleet_fixture.hpp"

namespace joulepilot::decide {
namespace {

using testing::FleetFixture;
using testing::setting_of;

TEST(FleetPlan, GroupsParseAndPrint) {
    EXPECT_EQ(parse_groups("batching,clocks,precision,replicas"), kAllGroups);
    EXPECT_EQ(parse_groups("clocks, replicas"), kClocks | kReplicas);
    EXPECT_EQ(parse_groups("none"), 0U);
    EXPECT_EQ(groups_to_string(kBatching | kPrecision), "batching,precision");
    EXPECT_EQ(groups_to_string(0), "none");
    EXPECT_THROW(parse_groups("clocks,turbo"), core::ConfigError);
}

TEST(FleetPlan, GridHoldsSwitchedOffGroupsAtTheirDefaults) {
    FleetFixture fleet(4);
    SearchSpace space;
    space.groups = kAllGroups;
    EXPECT_EQ(make_grid(fleet.knobs(), space).configs.size(), 4U * 3U * 2U);
    space.groups = kClocks;
    const CandidateGrid grid = make_grid(fleet.knobs(), space);
    ASSERT_EQ(grid.configs.size(), 4U);
    for (const ReplicaConfig& c : grid.configs) {
        EXPECT_EQ(c.batch_cap, 256);
        EXPECT_EQ(c.fp8, 0);
    }
    EXPECT_EQ(grid.replicas, 4);
    space.groups = 0;
    ASSERT_EQ(make_grid(fleet.knobs(), space).configs.size(), 1U);
    EXPECT_EQ(make_grid(fleet.knobs(), space).configs.front(), ReplicaConfig{});
}

TEST(FleetPlan, SignatureIgnoresFleetSizeButNotDomains) {
    FleetFixture four(4);
    FleetFixture two(2);
    EXPECT_EQ(knob_space_signature(four.knobs()), knob_space_signature(two.knobs()));
    EXPECT_NE(knob_space_signature(four.knobs()).find("batch_cap"), std::string::npos);
    two.knob("replica.0.batch_cap").domain.values = {8, 16};
    EXPECT_NE(knob_space_signature(four.knobs()), knob_space_signature(two.knobs()));
}

TEST(FleetPlan, ParksTheSurplusHighestIndexFirst) {
    FleetFixture fleet(4);
    fleet.push();
    const auto states = replica_states(fleet.state().window, 4);
    EXPECT_EQ(replicas_up(states), 4);
    const auto settings = actuate(fleet.knobs(), states, FleetAction{2, ReplicaConfig{}}, kAllGroups);
    Decision d{settings, "", {}};
    EXPECT_EQ(setting_of(d, "replica.3.active"), 0);
    EXPECT_EQ(setting_of(d, "replica.2.active"), 0);
    EXPECT_FALSE(setting_of(d, "replica.1.active").has_value());
    EXPECT_FALSE(setting_of(d, "gpu.0.sm_clock_cap_hz").has_value());  // already at the target
}

TEST(FleetPlan, WakesParkedReplicasWithTheTargetPrecisionAlreadySet) {
    FleetFixture fleet(4);
    fleet.park(2);
    fleet.park(3);
    fleet.push();
    ReplicaConfig fp8;
    fp8.fp8 = 1;
    fp8.clock_mhz = 1500;
    const auto states = replica_states(fleet.state().window, 4);
    Decision d{actuate(fleet.knobs(), states, FleetAction{3, fp8}, kAllGroups), "", {}};
    EXPECT_EQ(setting_of(d, "replica.2.active"), 1);
    EXPECT_FALSE(setting_of(d, "replica.3.active").has_value());
    EXPECT_EQ(setting_of(d, "replica.2.precision"), 1);  // set while parked: no reload
    EXPECT_EQ(setting_of(d, "replica.3.precision"), 1);
    EXPECT_FALSE(setting_of(d, "replica.0.precision").has_value());  // serving: rolled out by parking
    EXPECT_EQ(setting_of(d, "gpu.0.sm_clock_cap_hz"), 1500e6);
}

TEST(FleetPlan, ParksWrongPrecisionReplicasFirst) {
    FleetFixture fleet(3);
    fleet.knob("replica.2.precision").current = 1;
    fleet.push();
    ReplicaConfig fp8;
    fp8.fp8 = 1;
    const auto states = replica_states(fleet.state().window, 3);
    Decision d{actuate(fleet.knobs(), states, FleetAction{2, fp8}, kAllGroups), "", {}};
    // Replica 2 already serves fp8: a bf16 one goes (the lowest-index bf16 is kept).
    EXPECT_FALSE(setting_of(d, "replica.2.active").has_value());
    EXPECT_EQ(setting_of(d, "replica.1.active"), 0);
}

TEST(FleetPlan, WithoutTheReplicaGroupEveryReplicaServes) {
    FleetFixture fleet(3);
    fleet.park(1);
    fleet.push();
    const auto states = replica_states(fleet.state().window, 3);
    Decision d{actuate(fleet.knobs(), states, FleetAction{1, ReplicaConfig{}}, kClocks), "", {}};
    EXPECT_EQ(setting_of(d, "replica.1.active"), 1);
    EXPECT_FALSE(setting_of(d, "replica.0.active").has_value());
}

}  // namespace
}  // namespace joulepilot::decide
