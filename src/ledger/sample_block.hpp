#pragma once
// Raw samples stored as blocks: one row of `sample_blocks` per series and minute, the minute's points
// packed into one blob (format in docs/ledger.md, "How raw samples are stored"):
//
//     count x uint16 LE   offset of the point from the block's minute_ms, in ms (0 .. 59,999), ascending
//     count x float64 LE  the point's value (IEEE 754 bits, exact)
//
// One row per minute instead of one per sample is what makes ingest fast (issue 5): SQLite's cost is
// per row. Pure functions, thread-safe. Called by the writer (merge, encode), the reader (decode) and
// the schema migration 2 -> 3.

#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::ledger::detail {

inline constexpr std::int64_t kMinuteMs = 60'000;
inline constexpr std::size_t kBytesPerPoint = 2 + 8;
// The earliest time a sample may have: its minute must be representable (older ones are rejected).
inline constexpr std::int64_t kEarliestSampleMs = std::numeric_limits<std::int64_t>::min() + kMinuteMs;

// The start of the minute holding t_ms (floor, also for times before 1970). t_ms >= kEarliestSampleMs.
[[nodiscard]] constexpr std::int64_t floor_minute(std::int64_t t_ms) {
    return t_ms - (((t_ms % kMinuteMs) + kMinuteMs) % kMinuteMs);
}

// `points`: sorted by t_ms, unique, all within [minute_ms, minute_ms + 60 s). `out` is replaced.
void encode_block(std::int64_t minute_ms, std::span<const SamplePoint> points,
                  std::vector<std::uint8_t>& out);

// Appends the block's points with from_ms <= t_ms < to_ms to `out`, oldest first. Fails when the blob
// does not hold `count` well-formed points (a damaged or hand-edited row); `where` names it.
core::Result<void> decode_block(std::int64_t minute_ms, std::int64_t count,
                                std::span<const std::uint8_t> blob, std::int64_t from_ms, std::int64_t to_ms,
                                std::vector<SamplePoint>& out, std::string_view where);

// `out` = `stored` (sorted, unique) merged with `incoming` (sorted by t_ms; equal times in arrival
// order): a time in both takes the incoming value, and of equal incoming times the last one wins (a
// sample is a fact about one instant; the later report replaces the earlier).
void merge_points(std::span<const SamplePoint> stored, std::span<const Sample> incoming,
                  std::vector<SamplePoint>& out);

}  // namespace joulepilot::ledger::detail
