#pragma once
// KnobClient: the model server's knob endpoint (contract in docs/http_knob.md).
//   GET /v1/knobs  -> 200 {"knobs": [{"name", "value", "min", "max", "step"} | {"name", "value", "values"}]}
//   PUT /v1/knobs  {"<name>": value, ...} -> 200 {"applied": {"<name>": value, ...}}
//                  400/422 {"error": "..."}: nothing applied (all or nothing)
// Used by HttpKnobActuator. Errors name the endpoint and the knob. No retries here: the shield's next tick
// is the retry. Thread-safety: not thread-safe; one owner.

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "act/knob.hpp"
#include "act/kube/http_transport.hpp"
#include "core/result.hpp"

namespace joulepilot::act {

struct KnobClientOptions {
    std::string url = "http://127.0.0.1:8000";  // base URL of the model server (its /v1/knobs is used)
    std::filesystem::path bearer_token_file;     // optional; re-read per request
    std::string ca_pem;                          // https with a private CA
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds timeout{3000};
};

// One knob as the endpoint describes it.
struct RemoteKnob {
    std::string name;
    double value = 0;
    KnobDomain domain;
};

class KnobClient {
public:
    // http:// is allowed (the model server usually listens on the pod's or node's own network).
    static core::Result<KnobClient> create(KnobClientOptions options);

    core::Result<std::vector<RemoteKnob>> list();
    // All or nothing; returns the values the server says it applied.
    core::Result<std::map<std::string, double>> set(const std::map<std::string, double>& values);

    [[nodiscard]] const std::string& url() const { return m_transport.base_url(); }

private:
    explicit KnobClient(HttpTransport transport) : m_transport(std::move(transport)) {}
    HttpTransport m_transport;
};

// Parses the body of GET /v1/knobs (exposed for tests). `where` prefixes every message.
core::Result<std::vector<RemoteKnob>> parse_knob_list(const nlohmann::json& body, const std::string& where);

}  // namespace joulepilot::act
