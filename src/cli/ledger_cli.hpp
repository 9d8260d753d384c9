#pragma once
// Helpers shared by the `ledger` and `audit` commands: which ledger file to open (--ledger, else
// [ledger] path of --config, else the default) and how a user writes a point in time on the command line.

#include <optional>
#include <string>

#include "core/result.hpp"

namespace joulepilot::cli {

struct LedgerLocation {
    std::string ledger_path;  // --ledger
    std::string config_path;  // --config
};

// The ledger file to use; a config error (bad file, bad [ledger] key) comes back as the error.
core::Result<std::string> resolve_ledger_path(const LedgerLocation& location);

// "2026-11-22T10:00:00Z" (UTC), "@1700000000" (Unix seconds) or "2h" / "30m" / "1d" (that long before
// now_ms) -> milliseconds since the Unix epoch.
core::Result<std::int64_t> parse_time_ms(const std::string& text, std::int64_t now_ms);

// "2026-11-22T10:00:00.250Z"
std::string format_time_ms(std::int64_t t_ms);

}  // namespace joulepilot::cli
