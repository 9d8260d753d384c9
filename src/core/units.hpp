#pragma once
// Strong SI unit types. Inside joulepilot every physical value is SI (W, J, s, Hz); raw hardware
// integers are converted at the edge (NVML mW/mJ, RAPL uJ, cpufreq kHz) and carry their unit in their
// name until then. Mixing units is a compile error: Watts * Seconds is Joules, Joules / Seconds is Watts.

#include <compare>

namespace joulepilot::core {

template <class Tag>
class Quantity {
public:
    constexpr Quantity() = default;
    constexpr explicit Quantity(double value) : m_value(value) {}

    [[nodiscard]] constexpr double value() const { return m_value; }

    constexpr Quantity& operator+=(Quantity other) {
        m_value += other.m_value;
        return *this;
    }
    constexpr Quantity& operator-=(Quantity other) {
        m_value -= other.m_value;
        return *this;
    }
    friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.m_value + b.m_value); }
    friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.m_value - b.m_value); }
    friend constexpr Quantity operator-(Quantity a) { return Quantity(-a.m_value); }
    friend constexpr Quantity operator*(Quantity a, double k) { return Quantity(a.m_value * k); }
    friend constexpr Quantity operator*(double k, Quantity a) { return Quantity(a.m_value * k); }
    friend constexpr Quantity operator/(Quantity a, double k) { return Quantity(a.m_value / k); }
    // The ratio of two like quantities is a plain number.
    friend constexpr double operator/(Quantity a, Quantity b) { return a.m_value / b.m_value; }
    friend constexpr auto operator<=>(Quantity a, Quantity b) = default;

private:
    double m_value = 0.0;
};

struct JoulesTag {};
struct WattsTag {};
struct SecondsTag {};
struct HertzTag {};

using Joules = Quantity<JoulesTag>;
using Watts = Quantity<WattsTag>;
using Seconds = Quantity<SecondsTag>;
using Hertz = Quantity<HertzTag>;

constexpr Joules operator*(Watts p, Seconds t) { return Joules(p.value() * t.value()); }
constexpr Joules operator*(Seconds t, Watts p) { return Joules(p.value() * t.value()); }
constexpr Watts operator/(Joules e, Seconds t) { return Watts(e.value() / t.value()); }
constexpr Seconds operator/(Joules e, Watts p) { return Seconds(e.value() / p.value()); }

inline constexpr double kJoulesPerKwh = 3.6e6;

constexpr double to_kwh(Joules e) { return e.value() / kJoulesPerKwh; }
constexpr Joules from_kwh(double kwh) { return Joules(kwh * kJoulesPerKwh); }
constexpr double to_mhz(Hertz f) { return f.value() / 1e6; }
constexpr Hertz from_mhz(double mhz) { return Hertz(mhz * 1e6); }

}  // namespace joulepilot::core
