// The audit chain: canonical form, SHA-256 links (OpenSSL) and verification. Each entry's hash is
// SHA-256 over the previous entry's hash (hex) followed by the entry's canonical JSON; the writer
// (ledger_writer.cpp) is the only code that appends, and it uses these functions.

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "ledger/audit_chain.hpp"

namespace joulepilot::ledger {

std::string canonical_audit_body(std::int64_t t_ms, std::string_view kind, const nlohmann::json& body) {
    // nlohmann::json objects keep keys sorted, and dump() without indent adds no spaces: one byte
    // sequence per value.
    nlohmann::json entry = nlohmann::json::object();
    entry["t_ms"] = t_ms;
    entry["kind"] = kind;
    entry["body"] = body;
    return entry.dump();
}

std::string chain_hash(std::string_view prev_hash_hex, std::string_view canonical_body) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
    EVP_DigestUpdate(context, prev_hash_hex.data(), prev_hash_hex.size());
    EVP_DigestUpdate(context, canonical_body.data(), canonical_body.size());
    EVP_DigestFinal_ex(context, digest.data(), &size);
    EVP_MD_CTX_free(context);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex(static_cast<std::size_t>(size) * 2, '0');
    for (unsigned int i = 0; i < size; ++i) {
        hex[2 * i] = kHex[digest[i] >> 4];
        hex[2 * i + 1] = kHex[digest[i] & 0xf];
    }
    return hex;
}

std::string_view to_string(AuditProblem problem) {
    switch (problem) {
        case AuditProblem::none:
            return "intact";
        case AuditProblem::hash_mismatch:
            return "hash mismatch";
        case AuditProblem::prev_hash_mismatch:
            return "broken link";
        case AuditProblem::gap:
            return "gap";
        case AuditProblem::reordered:
            return "reordered";
        case AuditProblem::bad_body:
            return "unreadable body";
    }
    return "unknown";
}

namespace detail {
namespace {

struct Row {
    std::int64_t seq;
    std::int64_t t_ms;
    std::string kind;
    std::string body_json;
    std::string prev_hash;
    std::string hash;
};

AuditVerdict broken(AuditVerdict verdict, std::int64_t seq, AuditProblem problem, const std::string& why) {
    verdict.first_bad_seq = seq;
    verdict.problem = problem;
    verdict.message =
        "audit: seq " + std::to_string(seq) + ": " + std::string(to_string(problem)) + ": " + why;
    return verdict;
}

}  // namespace

core::Result<AuditVerdict> verify_chain(const Database& db) {
    auto stmt = db.prepare("SELECT seq, t_ms, kind, body_json, prev_hash, hash FROM audit ORDER BY seq");
    if (!stmt) return tl::unexpected(stmt.error());
    std::vector<Row> rows;
    std::unordered_map<std::string, std::int64_t> seq_of_hash;
    for (;;) {
        auto more = stmt->step();
        if (!more) return tl::unexpected(more.error());
        if (!*more) break;
        rows.push_back(
            Row{stmt->int64(0), stmt->int64(1), stmt->text(2), stmt->text(3), stmt->text(4), stmt->text(5)});
        seq_of_hash.emplace(rows.back().hash, rows.back().seq);
    }

    AuditVerdict verdict;
    std::string prev = kGenesisHash;
    std::int64_t expected = 1;
    for (const auto& row : rows) {
        ++verdict.entries;
        if (row.seq != expected) {
            return broken(verdict, expected, AuditProblem::gap,
                          "missing (the next entry is seq " + std::to_string(row.seq) + "; entries " +
                              std::to_string(expected) + ".." + std::to_string(row.seq - 1) +
                              " were deleted)");
        }
        const auto body = nlohmann::json::parse(row.body_json, nullptr, /*allow_exceptions=*/false);
        if (body.is_discarded()) {
            return broken(verdict, row.seq, AuditProblem::bad_body, "body is not JSON (row edited?)");
        }
        if (chain_hash(row.prev_hash, canonical_audit_body(row.t_ms, row.kind, body)) != row.hash) {
            return broken(verdict, row.seq, AuditProblem::hash_mismatch,
                          "its content does not match its hash (row edited?)");
        }
        if (row.prev_hash != prev) {
            const auto other = seq_of_hash.find(row.prev_hash);
            if (other != seq_of_hash.end()) {
                return broken(verdict, row.seq, AuditProblem::reordered,
                              "it follows seq " + std::to_string(other->second) + ", not seq " +
                                  std::to_string(row.seq - 1) + " (entries moved?)");
            }
            return broken(verdict, row.seq, AuditProblem::prev_hash_mismatch,
                          "its previous hash does not match seq " + std::to_string(row.seq - 1) +
                              " (an entry replaced or removed?)");
        }
        prev = row.hash;
        verdict.last_seq = row.seq;
        ++expected;
    }

    // The writer records the head it committed; fewer entries than that means the tail was cut off.
    auto head = db.prepare("SELECT value FROM meta WHERE key = ?");
    if (!head) return tl::unexpected(head.error());
    head->bind(1, std::string_view(kAuditHeadSeqKey));
    auto has_head = head->step();
    if (!has_head) return tl::unexpected(has_head.error());
    if (*has_head) {
        const auto text = head->text(0);
        std::int64_t head_seq = 0;
        const auto parsed = std::from_chars(text.data(), text.data() + text.size(), head_seq);
        if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) {
            return broken(verdict, verdict.last_seq + 1, AuditProblem::bad_body,
                          "the recorded head of the chain (meta audit.head_seq) is not a number (edited?)");
        }
        if (head_seq > verdict.last_seq) {
            return broken(verdict, verdict.last_seq + 1, AuditProblem::gap,
                          "missing: the chain ends at seq " + std::to_string(verdict.last_seq) +
                              " but the ledger committed up to seq " + std::to_string(head_seq) +
                              " (entries deleted from the end)");
        }
    }
    return verdict;
}

}  // namespace detail
}  // namespace joulepilot::ledger
