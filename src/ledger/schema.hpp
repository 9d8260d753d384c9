#pragma once
// The ledger's schema: the migrations that take a file from version N to N+1 (PRAGMA user_version) and
// the checks run when a file is opened (is it a joulepilot ledger, is its schema one this build knows).
// Called by Ledger::open, LedgerReader::open and migrate_file; tests call migrate_to() to make old files.

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "ledger/sqlite_db.hpp"

namespace joulepilot::ledger::detail {

// PRAGMA application_id of a ledger file ("JPLG"), so another SQLite file is recognised as foreign.
inline constexpr std::int64_t kApplicationId = 0x4A504C47;

// The names of the ledger's own tables at kSchemaVersion, in a stable order (for info and export).
const std::vector<std::string>& table_names();

// Reads user_version and application_id and refuses a file that is not a ledger or is newer than this
// build; returns the file's schema version (0 for a new, empty file).
core::Result<int> check_file(Database& db);

// Runs migrations version+1 .. target, each in its own transaction. target <= kSchemaVersion.
core::Result<void> migrate_to(Database& db, int target);

}  // namespace joulepilot::ledger::detail
