#pragma once
// Composition: any policy, with the idle-fsm parking rule on top. The main policy decides first; then
// idle-fsm looks at the same state, and every replica it would park (replica.<i>.active = 0: a GPU with
// nothing queued or running for its idle samples) is parked whatever the main policy asked for that
// replica, unless the main policy's decision holds capacity on purpose (Decision::hold_capacity, e.g.
// mpc after a burst caught a consolidated fleet). idle-fsm's own wake-ups are not taken: waking is the
// main policy's job. Named after the main policy. Owned by the loop thread.

#include <memory>

#include "decide/idle_fsm_policy.hpp"
#include "decide/policy.hpp"

namespace joulepilot::decide {

class IdleParking final : public Policy {
public:
    IdleParking(std::unique_ptr<Policy> main, IdleFsmConfig idle) : m_main(std::move(main)), m_idle(idle) {}

    [[nodiscard]] std::string_view name() const override { return m_main->name(); }
    Decision decide(const learn::ModelState& state, const act::KnobSpace& knobs,
                    const Constraints& constraints) override;

    [[nodiscard]] Policy& main() { return *m_main; }

private:
    std::unique_ptr<Policy> m_main;
    IdleFsmPolicy m_idle;
};

}  // namespace joulepilot::decide
