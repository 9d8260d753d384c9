#pragma once
// A workload read as the simulation reaches it instead of held whole. A RequestStream hands out requests
// in arrival order, one at a time; a WorkloadSource opens such streams, each from the first request, as
// often as wanted (the scenario reads one to measure the load, the fleet another to replay it). A generated
// stream keeps only a window of upcoming requests (the ServeGen day: one 10-minute window), so a day of
// ~400k requests never sits in memory at once (servegen_day.hpp); a recorded trace is held once and shared.
// Thread safety: a source is immutable and may be opened from any thread; a stream belongs to one reader.

#include <memory>
#include <optional>

#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

class RequestStream {
public:
    virtual ~RequestStream() = default;
    // The next request (arrivals never decrease), or nullopt once the workload is exhausted.
    virtual std::optional<RequestSpec> next() = 0;
};

class WorkloadSource {
public:
    virtual ~WorkloadSource() = default;
    [[nodiscard]] virtual std::unique_ptr<RequestStream> open() const = 0;
};

// A materialised workload as a source; its streams share the vector. It must be sorted by arrival.
std::shared_ptr<const WorkloadSource> workload_source(std::shared_ptr<const Workload> workload);
std::shared_ptr<const WorkloadSource> workload_source(Workload workload);

// Every request left in the stream, in order (tests and callers that need the whole workload).
Workload read_all(RequestStream& stream);

}  // namespace joulepilot::twin
