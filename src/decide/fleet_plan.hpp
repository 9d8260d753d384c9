#pragma once
// The action space the model-based policies (mpc, oracle) search, and how a chosen action reaches the
// knobs. An action is fleet-wide: how many replicas serve and one setting (SM clock cap, power limit,
// batch cap, precision) for all of them. Knob groups (batching, clocks and power limits, precision,
// replica count) can be switched off; a switched-off group stays at its default (the bench's Shapley
// attribution runs the policy with every subset of groups).
//
// FleetActuation turns a target action into knob settings against the fleet's current state, read from
// replica.<i>.state: it wakes parked replicas (with the target precision already set, which costs
// nothing while parked), parks the surplus (replicas with the wrong precision first, then the highest
// index), and sets clocks, power limits and batch caps directly. A precision change of a serving
// replica is a drain and reload (the wake delay), so it is rolled out through parking and waking:
// only replicas beyond what the target needs are ever reloaded.
// Pure functions and a small stateless planner; used on the loop thread.

#include <string>
#include <vector>

#include "act/knob.hpp"
#include "core/config.hpp"
#include "decide/policy.hpp"
#include "learn/observation_window.hpp"

namespace joulepilot::decide {

enum KnobGroup : unsigned {
    kBatching = 1U,   // replica.<i>.batch_cap
    kClocks = 2U,     // gpu.<i>.sm_clock_cap_hz and gpu.<i>.power_limit_watts
    kPrecision = 4U,  // replica.<i>.precision
    kReplicas = 8U,   // replica.<i>.active
};
inline constexpr unsigned kAllGroups = 15U;
// "batching,clocks,precision,replicas" (any subset; "none" or "" for none).
unsigned parse_groups(const std::string& text);
std::string groups_to_string(unsigned groups);

struct ReplicaConfig {
    double clock_mhz = 1980;
    double power_limit_w = 700;
    int batch_cap = 256;
    int fp8 = 0;
    bool operator==(const ReplicaConfig&) const = default;
};

struct FleetAction {
    int active = 0;  // replicas serving (or waking)
    ReplicaConfig config;
};

// The values each knob may take in the search, from [policy.<name>] keys `clocks_mhz` and `batch_caps`
// (comma-separated lists) and `groups`.
struct SearchSpace {
    unsigned groups = kAllGroups;
    std::vector<double> clocks_mhz{1980, 1740, 1500, 1260};
    std::vector<int> batch_caps{64, 128, 256};
    int min_active = 1;

    static SearchSpace from(const core::ConfigSection& section);
};

// The candidate configurations (groups switched off held at the knob defaults) and the fleet size.
struct CandidateGrid {
    std::vector<ReplicaConfig> configs;
    ReplicaConfig defaults;
    int replicas = 0;
    int min_active = 1;
};
CandidateGrid make_grid(const act::KnobSpace& knobs, const SearchSpace& space);

// A stable description of the per-replica knobs and their domains (independent of the fleet size): an
// energy model trained for one knob space is refused by another.
std::string knob_space_signature(const act::KnobSpace& knobs);

// Replica states as the world reports them (replica.<i>.state); -1 when unknown.
std::vector<int> replica_states(const learn::ObservationWindow& window, int replicas);

// What the fleet runs now: the serving replicas (state 1 or 2) and their mean clock cap, power limit and
// batch cap, fp8 when most of them run it. With no replica serving: 0 active and the defaults.
FleetAction current_action(const act::KnobSpace& knobs, const std::vector<int>& states, const ReplicaConfig& defaults);

// The settings that move the fleet toward `target`; empty when it is there.
std::vector<act::KnobSetting> actuate(const act::KnobSpace& knobs, const std::vector<int>& states,
                                      const FleetAction& target, unsigned groups);

// Replicas serving or waking (state 1 or 2).
int replicas_up(const std::vector<int>& states);

}  // namespace joulepilot::decide
