#pragma once
// Names of the signals and knobs the twin world offers (the same names a real node's sensors and
// actuators use where they exist). Policies look signals up by these names.
//
// Per GPU / replica i (0-based):
//   gpu.<i>.utilization_ratio       fraction of the last sense interval the GPU was busy (NVML "utilization")
//   gpu.<i>.sm_activity_ratio       mean fraction of SMs active (DCGM SM activity)
//   gpu.<i>.memory_activity_ratio   mean fraction of time the memory was read or written
//   gpu.<i>.power_watts             mean power over the last sense interval
//   gpu.<i>.energy_joules_total     energy counter since start
//   gpu.<i>.sm_clock_hz             effective SM clock
//   replica.<i>.queue_requests      requests waiting to be admitted
//   replica.<i>.running_requests    requests in the running batch
//   replica.<i>.state               0 parked, 1 waking, 2 serving, 3 draining (will park when empty)
// Fleet and service:
//   fleet.arrival_rate_rps          arrivals per second over the last sense interval
//   fleet.prompt_tokens_per_s       prompt tokens of arriving requests per second (vLLM prompt_tokens_total)
//   fleet.generation_tokens_per_s   output tokens generated per second (vLLM generation_tokens_total)
//   fleet.queue_requests            requests waiting in all replicas
//   fleet.power_watts               sum of GPU power
//   service.ttft_p99_seconds        p99 time to first token of requests whose first token came in the last 60 s
//   service.tpot_p99_seconds        p99 time per output token of requests finished in the last 60 s
//   service.slo_attainment_ratio    fraction of requests finished in the last 60 s that met both SLOs
// Knobs, per GPU / replica i:
//   gpu.<i>.sm_clock_cap_hz         210..1980 MHz in 15 MHz steps (default 1980 MHz)
//   gpu.<i>.power_limit_watts       200..700 W in 10 W steps (default 700 W)
//   replica.<i>.batch_cap           one of 8,16,32,64,96,128,192,256,384,512 (default 256)
//   replica.<i>.precision           0 = bf16, 1 = fp8 (default 0)
//   replica.<i>.active              0 = parked, 1 = serving (default 1); parking drains first

#include <string>

namespace joulepilot::twin::signals {

inline std::string gpu(int i, const char* what) { return "gpu." + std::to_string(i) + "." + what; }
inline std::string replica(int i, const char* what) { return "replica." + std::to_string(i) + "." + what; }

}  // namespace joulepilot::twin::signals
