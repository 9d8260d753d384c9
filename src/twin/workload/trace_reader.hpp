#pragma once
// Readers for recorded per-request traces:
//  - Azure LLM inference trace CSV: header `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps
//    `YYYY-MM-DD HH:MM:SS[.fffffff]` (no time zone);
//  - JSONL: one object per line `{"timestamp": <ms>, "input_length": n, "output_length": m}`.
// Arrivals are made relative to the first request (first arrival = 0 s) and sorted. Every malformed
// input (missing file, empty file, bad header, bad or truncated row, negative tokens, non-monotonic
// garbage) is an error naming the file and line and saying what was expected.
// Details: rows merely out of timestamp order are sorted (ties keep file order), not rejected; arrivals
// are relative to the earliest timestamp. Input tokens must be >= 0, output tokens >= 1, both < 2^31.
// CSV timestamps keep their 100 ns resolution (1 to 9 fractional digits, years 1970 to 2199, 'T' accepted
// between date and time); a UTF-8 byte order mark and blank lines are ignored. JSONL lines may carry extra
// keys; timestamps may be fractional milliseconds (|ms| < 1e15). A file holding only a header, or only
// blank lines, is an error too.

#include <filesystem>

#include "core/result.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

// Chooses the format from the content (a first line starting with '{' is JSONL, else CSV).
core::Result<Workload> read_trace_file(const std::filesystem::path& path);
core::Result<Workload> read_azure_csv(const std::filesystem::path& path);
core::Result<Workload> read_jsonl(const std::filesystem::path& path);

}  // namespace joulepilot::twin
