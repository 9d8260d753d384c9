// The audit chain: entries are linked by SHA-256 in the order they were appended; verify() finds the
// first broken seq after a row is edited, deleted, swapped or the tail cut off, and never repairs.

#include <gtest/gtest.h>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::RawConnection;
using testing::TempFolder;
using testing::test_options;

class AuditChainTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto ledger = open_or_die(test_options(m_folder.file("audit.db")));
        for (int i = 1; i <= 6; ++i) {
            ASSERT_TRUE(ledger->append_audit(1000 * i, "action",
                                             nlohmann::json{{"knob", "gpu.0.power_limit_watts"},
                                                            {"before", 700},
                                                            {"after", 700 - 10 * i},
                                                            {"outcome", "applied"}}));
        }
        ASSERT_TRUE(ledger->flush());
    }
    AuditVerdict verify() {
        auto reader = LedgerReader::open(path());
        if (!reader) throw std::runtime_error(reader.error().message);
        auto verdict = (*reader)->verify_audit();
        if (!verdict) throw std::runtime_error(verdict.error().message);
        return *verdict;
    }
    [[nodiscard]] std::filesystem::path path() const { return m_folder.file("audit.db"); }

    TempFolder m_folder;
};

TEST(AuditHash, KnownVectorAndCanonicalForm) {
    // sha256("abc") from FIPS 180-2: the hash function is SHA-256 over prev_hash || body.
    EXPECT_EQ(chain_hash("a", "bc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // Keys sorted, no spaces, whatever order the body was built in.
    const auto one = canonical_audit_body(5, "action", nlohmann::json{{"b", 1}, {"a", 2}});
    EXPECT_EQ(one, R"({"body":{"a":2,"b":1},"kind":"action","t_ms":5})");
}

TEST_F(AuditChainTest, IntactChainVerifies) {
    const auto verdict = verify();
    EXPECT_TRUE(verdict.intact()) << verdict.message;
    EXPECT_EQ(verdict.entries, 6);
    EXPECT_EQ(verdict.last_seq, 6);
    EXPECT_EQ(verdict.first_bad_seq, 0);
}

TEST_F(AuditChainTest, EditedBodyIsReportedAtItsSeq) {
    RawConnection(path()).exec_or_fail(
        "UPDATE audit SET body_json = replace(body_json, '670', '600') WHERE seq = 3");
    const auto verdict = verify();
    EXPECT_FALSE(verdict.intact());
    EXPECT_EQ(verdict.first_bad_seq, 3);
    EXPECT_EQ(verdict.problem, AuditProblem::hash_mismatch);
    EXPECT_NE(verdict.message.find("seq 3"), std::string::npos) << verdict.message;
    EXPECT_EQ(verdict.last_seq, 2);
}

TEST_F(AuditChainTest, EditedTimeIsDetected) {
    RawConnection(path()).exec_or_fail("UPDATE audit SET t_ms = 999999 WHERE seq = 5");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 5);
    EXPECT_EQ(verdict.problem, AuditProblem::hash_mismatch);
}

TEST_F(AuditChainTest, RehashedEditBreaksTheNextLink) {
    // An editor who recomputes the edited row's own hash still breaks the link from the next row.
    RawConnection raw(path());
    const auto body = nlohmann::json{{"forged", true}};
    // Recompute seq 2's hash over the forged body, keeping its link to seq 1.
    auto reader = LedgerReader::open(path());
    ASSERT_TRUE(reader);
    const auto entries = (*reader)->audit(0).value();
    const auto forged_hash =
        chain_hash(entries[1].prev_hash, canonical_audit_body(entries[1].t_ms, "action", body));
    raw.exec_or_fail("UPDATE audit SET body_json = '" + body.dump() + "', hash = '" + forged_hash +
                     "' WHERE seq = 2");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 3);
    EXPECT_EQ(verdict.problem, AuditProblem::prev_hash_mismatch);
}

TEST_F(AuditChainTest, DeletedEntryIsAGap) {
    RawConnection(path()).exec_or_fail("DELETE FROM audit WHERE seq = 4");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 4);
    EXPECT_EQ(verdict.problem, AuditProblem::gap);
}

TEST_F(AuditChainTest, TruncatedTailIsAGap) {
    RawConnection(path()).exec_or_fail("DELETE FROM audit WHERE seq >= 5");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 5);
    EXPECT_EQ(verdict.problem, AuditProblem::gap);
    EXPECT_NE(verdict.message.find("up to seq 6"), std::string::npos) << verdict.message;
}

TEST_F(AuditChainTest, SwappedEntriesAreReordered) {
    RawConnection raw(path());
    raw.exec_or_fail("UPDATE audit SET seq = 100 WHERE seq = 3");
    raw.exec_or_fail("UPDATE audit SET seq = 3 WHERE seq = 4");
    raw.exec_or_fail("UPDATE audit SET seq = 4 WHERE seq = 100");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 3);
    EXPECT_EQ(verdict.problem, AuditProblem::reordered);
}

TEST_F(AuditChainTest, BodyThatIsNotJsonIsReported) {
    RawConnection(path()).exec_or_fail("UPDATE audit SET body_json = 'garbage{' WHERE seq = 2");
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 2);
    EXPECT_EQ(verdict.problem, AuditProblem::bad_body);
}

TEST_F(AuditChainTest, VerifyNeverRepairs) {
    RawConnection(path()).exec_or_fail("DELETE FROM audit WHERE seq = 2");
    EXPECT_FALSE(verify().intact());
    // Appending more does not paper over the hole either.
    {
        auto ledger = open_or_die(test_options(path()));
        ASSERT_TRUE(ledger->append_audit(9000, "action", nlohmann::json::object()));
        ASSERT_TRUE(ledger->flush());
    }
    const auto verdict = verify();
    EXPECT_EQ(verdict.first_bad_seq, 2);
    EXPECT_EQ(verdict.problem, AuditProblem::gap);
}

TEST_F(AuditChainTest, ChainContinuesAcrossReopen) {
    {
        auto ledger = open_or_die(test_options(path()));
        ASSERT_TRUE(ledger->commit_audit(7000, "restore", nlohmann::json{{"knobs", 2}}));
    }
    const auto verdict = verify();
    EXPECT_TRUE(verdict.intact()) << verdict.message;
    EXPECT_EQ(verdict.last_seq, 7);
}

}  // namespace
}  // namespace joulepilot::ledger
