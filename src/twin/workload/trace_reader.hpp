#pragma once
// Readers for recorded per-request traces:
//  - Azure LLM inference trace CSV: header `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps
//    `YYYY-MM-DD HH:MM:SS[.fffffff]` (no time zone);
//  - JSONL: one object per line `{"timestamp": <ms>, "input_length": n, "output_length": m}`.
// Arrivals are made relative to the first request (first arrival = 0 s) and sorted. Every malformed
// input (missing file, empty file, bad header, bad or truncated row, negative tokens, non-monotonic
// garbage) is an error naming the file and line and saying what was expected.

#include <filesystem>

#include "core/result.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

// Chooses the format from the content (a first line starting with '{' is JSONL, else CSV).
core::Result<Workload> read_trace_file(const std::filesystem::path& path);
core::Result<Workload> read_azure_csv(const std::filesystem::path& path);
core::Result<Workload> read_jsonl(const std::filesystem::path& path);

}  // namespace joulepilot::twin
