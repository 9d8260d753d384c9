#pragma once
// Helpers shared by the `ledger`, `audit` and `schedule run` commands: which ledger file to open
// (--ledger, else [ledger] path of --config, else the default), opening it for reading, and how a user
// writes a point in time on the command line.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "core/result.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::cli {

struct LedgerLocation {
    std::string ledger_path;  // --ledger
    std::string config_path;  // --config
};

// The ledger file to use; a config error (bad file, bad [ledger] key) comes back as the error.
core::Result<std::string> resolve_ledger_path(const LedgerLocation& location);

// Adds --ledger FILE (its help starts with `what`) and --config FILE to `command`; returns both options.
std::pair<CLI::Option*, CLI::Option*> add_ledger_location(CLI::App* command, LedgerLocation& location,
                                                          const std::string& what = "The ledger file");

// Opens the ledger for reading; on failure prints the error (which names the file and the fix) and returns
// null. `path`, when given, receives the file opened.
std::unique_ptr<ledger::LedgerReader> open_ledger_reader(const LedgerLocation& location,
                                                         std::string* path = nullptr);

// "2026-11-22T10:00:00Z" (UTC), "@1700000000" (Unix seconds) or "2h" / "30m" / "1d" (that long before
// now_ms) -> milliseconds since the Unix epoch.
core::Result<std::int64_t> parse_time_ms(const std::string& text, std::int64_t now_ms);

// "2026-11-22T10:00:00.250Z"
std::string format_time_ms(std::int64_t t_ms);

}  // namespace joulepilot::cli
