#pragma once
// EnergyMeter: named energy windows over any set of sense::Sensors. Its *domains* are the sensors' energy
// counters (signals in J whose name ends in "energy_joules_total"; "gpu.0.energy_joules_total" is domain
// "gpu.0"). A window reads every counter when it begins and when it ends; its joules per domain are the
// differences. Windows are independent intervals, so nesting and overlap need nothing special: an outer
// window simply spans its inner ones.
//
// Sensors are read only at window edges (never in the background), so a window costs two reads of every
// sensor and nothing in between. A counter missing at either edge (a lost GPU, an unreadable file) makes
// that domain's joules unknown for the window: never 0, never guessed.
//
// Thread-safety: every method may be called from any thread; one mutex serialises them, which also gives
// the sensors the single caller they require. Domain names are fixed at construction.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>
#include "core/clock.hpp"

#include "core/result.hpp"
#include "core/units.hpp"
#include "sense/energy_domain.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::capi {

struct EnergyDomain {
    std::string name;    // "gpu.0", "cpu.0.package"
    std::string signal;  // the counter it comes from, "gpu.0.energy_joules_total"
    sense::Provenance provenance = sense::Provenance::measured;
};

struct WindowReading {
    std::string name;
    bool ended = false;  // false: the reading runs to now
    core::Seconds duration{0};
    std::vector<std::optional<core::Joules>> joules;  // per domain, in domains() order; nullopt: unknown
};

using WindowId = std::uint64_t;

// Why a window call failed, so the C API can map it to a status without reading messages.
enum class WindowErrorKind : std::uint8_t { not_found, already_ended, limit };
struct WindowError {
    WindowErrorKind kind;
    std::string message;  // "meter: end: window 3 ('prefill') already ended"
};
template <class T>
using WindowResult = tl::expected<T, WindowError>;

class EnergyMeter {
  public:
    // Windows held at once (begun and not released); a bound so a caller that never releases fails loudly
    // instead of growing without end.
    static constexpr std::size_t kMaxWindows = 65536;

    // Discovers every sensor. Sensors without an energy counter are kept only for unavailable().
    EnergyMeter(std::vector<std::unique_ptr<sense::Sensor>> sensors, const core::Clock& clock);
    ~EnergyMeter();
    EnergyMeter(const EnergyMeter&) = delete;
    EnergyMeter& operator=(const EnergyMeter&) = delete;

    [[nodiscard]] const std::vector<EnergyDomain>& domains() const { return m_domains; }
    // Everything the sensors could not offer, with why; also entries added by the meter's builder.
    [[nodiscard]] std::vector<sense::Unavailable> unavailable() const;
    void add_unavailable(sense::Unavailable entry);

    WindowResult<WindowId> begin(std::string name);
    // Freezes the window's end. Ending twice is an error (the first end stands).
    WindowResult<void> end(WindowId window);
    // The window's joules so far (open: reads the counters now) or in total (ended: reads nothing).
    WindowResult<WindowReading> reading(WindowId window);
    // Forgets the window; its id is never reused.
    WindowResult<void> release(WindowId window);
    [[nodiscard]] std::size_t windows_held() const;

  private:
    struct Snapshot {
        core::Seconds time{0};
        std::vector<std::optional<double>> joules;  // per domain: counter value, J
    };
    struct Window {
        std::string name;
        Snapshot begin;
        std::optional<Snapshot> end;
    };
    struct SensorSlot {
        std::unique_ptr<sense::Sensor> sensor;
        std::vector<sense::Sample> samples;
        std::vector<std::pair<std::size_t, std::size_t>> counters;  // (sample index, domain index)
    };

    Snapshot snapshot();  // caller holds m_mutex
    WindowReading make_reading(const Window& window, const Snapshot& end) const;

    const core::Clock& m_clock;
    std::vector<SensorSlot> m_sensors;
    std::vector<EnergyDomain> m_domains;
    std::vector<sense::Unavailable> m_extra_unavailable;
    mutable std::mutex m_mutex;
    std::unordered_map<WindowId, Window> m_windows;
    WindowId m_next_id = 1;
};

// Domains are named as everywhere else that meters energy (sense/energy_domain.hpp).
using sense::energy_domain_name;

}  // namespace joulepilot::capi
