#pragma once
// HttpKnobActuator: the serving knobs of a model server through its knob endpoint (KnobClient):
// "replica.<i>.batch_cap" (sequences) and "replica.<i>.precision" (0 = bf16, 1 = fp8, act/knob.hpp).
// Knobs of other names that the endpoint lists are left alone (not discovered). Built by the agent's
// wiring; after that only the SafetyShield calls save/apply/restore, on the loop thread.
//
// create() lists the knobs once (an unreachable or malformed endpoint shows at start): the values found
// are the knobs' defaults. current() returns the values last read or applied. apply() sends one PUT with
// every setting (the endpoint applies all or nothing); restore() sends the saved values in one PUT.

#include <memory>
#include <string>
#include <vector>

#include "act/actuator.hpp"
#include "act/http_knob/knob_client.hpp"

namespace joulepilot::act {

class HttpKnobActuator final : public Actuator {
public:
    static core::Result<std::unique_ptr<HttpKnobActuator>> create(KnobClient client);

    [[nodiscard]] std::string name() const override { return "http-knob"; }
    std::vector<Knob> discover() override { return m_knobs; }
    [[nodiscard]] std::vector<double> current() const override;
    core::Result<void> save() override;
    core::Result<void> apply(std::span<const KnobSetting> settings) override;
    core::Result<void> restore() override;
    // After crash recovery: the values now (the originals) are the defaults, nothing is left to restore.
    void forget_changes() override;

    // True for "replica.<digits>.batch_cap" and "replica.<digits>.precision".
    static bool is_serving_knob(std::string_view name);

private:
    explicit HttpKnobActuator(KnobClient client) : m_client(std::move(client)) {}
    core::Result<void> refresh();

    KnobClient m_client;
    std::vector<Knob> m_knobs;
    std::vector<double> m_saved;  // empty until save()
};

}  // namespace joulepilot::act
