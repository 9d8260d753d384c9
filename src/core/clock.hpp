#pragma once
// Clocks are injected everywhere; nothing deep in the code reads the wall clock. The agent loop asks its
// clock to wait until the next tick: the system clock sleeps, a manual clock jumps (tests), and the
// twin's clock runs the simulation up to that time. That is what lets one loop drive both worlds.

#include "core/units.hpp"

namespace joulepilot::core {

class Clock {
public:
    virtual ~Clock() = default;
    // Seconds since this clock's epoch (Unix epoch for the system clock, start of run for others).
    [[nodiscard]] virtual Seconds now() const = 0;
    // Returns once now() >= t. Not thread-safe: called by the loop thread only.
    virtual void sleep_until(Seconds t) = 0;
};

// Wall time (steady for sleeping, reported as Unix seconds).
class SystemClock final : public Clock {
public:
    [[nodiscard]] Seconds now() const override;
    void sleep_until(Seconds t) override;
};

// Time moves only when told to: sleep_until jumps, advance adds. For tests.
class ManualClock final : public Clock {
public:
    explicit ManualClock(Seconds start = Seconds(0)) : m_now(start) {}
    [[nodiscard]] Seconds now() const override { return m_now; }
    void sleep_until(Seconds t) override {
        if (t > m_now) m_now = t;
    }
    void advance(Seconds dt) { m_now += dt; }

private:
    Seconds m_now;
};

}  // namespace joulepilot::core
