#pragma once
// The audit chain's verification (the hash function and canonical form are public in ledger.hpp).
// Called by LedgerReader::verify_audit under the reader's lock.

#include "ledger/ledger.hpp"
#include "ledger/sqlite_db.hpp"

namespace joulepilot::ledger::detail {

// meta keys where the writer records the chain's head, so a truncated tail is detected.
inline constexpr const char* kAuditHeadSeqKey = "audit.head_seq";

// Walks the audit table in seq order; the first broken entry and why. Never changes the file.
core::Result<AuditVerdict> verify_chain(const Database& db);

}  // namespace joulepilot::ledger::detail
