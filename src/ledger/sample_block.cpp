// The sample block codec (see sample_block.hpp): little-endian offsets and values, written and read
// byte by byte so the file means the same on every machine.

#include "ledger/sample_block.hpp"

#include <bit>
#include <string>

namespace joulepilot::ledger::detail {

void encode_block(std::int64_t minute_ms, std::span<const SamplePoint> points,
                  std::vector<std::uint8_t>& out) {
    const std::size_t n = points.size();
    out.resize(n * kBytesPerPoint);
    std::uint8_t* offsets = out.data();
    std::uint8_t* values = out.data() + 2 * n;
    for (std::size_t i = 0; i < n; ++i) {
        const auto offset = static_cast<std::uint16_t>(points[i].t_ms - minute_ms);
        offsets[2 * i] = static_cast<std::uint8_t>(offset & 0xff);
        offsets[2 * i + 1] = static_cast<std::uint8_t>(offset >> 8);
        const auto bits = std::bit_cast<std::uint64_t>(points[i].value);
        for (int b = 0; b < 8; ++b)
            values[8 * i + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(bits >> (8 * b));
    }
}

core::Result<void> decode_block(std::int64_t minute_ms, std::int64_t count,
                                std::span<const std::uint8_t> blob, std::int64_t from_ms, std::int64_t to_ms,
                                std::vector<SamplePoint>& out, std::string_view where) {
    const auto damaged = [&](const std::string& what) {
        return core::fail(std::string(where) + ": sample block at minute_ms " + std::to_string(minute_ms) +
                          " is damaged (" + what +
                          "); the file was changed outside joulepilot: restore it from a backup");
    };
    if (count < 0 || blob.size() != static_cast<std::size_t>(count) * kBytesPerPoint) {
        return damaged(std::to_string(blob.size()) + " bytes for " + std::to_string(count) + " points");
    }
    const auto n = static_cast<std::size_t>(count);
    const std::uint8_t* offsets = blob.data();
    const std::uint8_t* values = blob.data() + 2 * n;
    std::int64_t previous = -1;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t offset = offsets[2 * i] | (offsets[2 * i + 1] << 8);
        if (offset >= kMinuteMs || offset <= previous) {
            return damaged("point " + std::to_string(i) + " has offset " + std::to_string(offset));
        }
        previous = offset;
        const std::int64_t t_ms = minute_ms + offset;
        if (t_ms < from_ms || t_ms >= to_ms) continue;
        std::uint64_t bits = 0;
        for (int b = 0; b < 8; ++b)
            bits |= std::uint64_t{values[8 * i + static_cast<std::size_t>(b)]} << (8 * b);
        out.push_back(SamplePoint{t_ms, std::bit_cast<double>(bits)});
    }
    return {};
}

void merge_points(std::span<const SamplePoint> stored, std::span<const Sample> incoming,
                  std::vector<SamplePoint>& out) {
    out.clear();
    out.reserve(stored.size() + incoming.size());
    std::size_t s = 0;
    std::size_t i = 0;
    while (i < incoming.size()) {
        // The last of a run of equal incoming times.
        std::size_t last = i;
        while (last + 1 < incoming.size() && incoming[last + 1].t_ms == incoming[i].t_ms) ++last;
        const auto t_ms = incoming[last].t_ms;
        while (s < stored.size() && stored[s].t_ms < t_ms) out.push_back(stored[s++]);
        if (s < stored.size() && stored[s].t_ms == t_ms) ++s;  // replaced
        out.push_back(SamplePoint{t_ms, incoming[last].value});
        i = last + 1;
    }
    while (s < stored.size()) out.push_back(stored[s++]);
}

}  // namespace joulepilot::ledger::detail
