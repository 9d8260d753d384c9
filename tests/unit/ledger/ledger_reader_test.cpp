// Queries of LedgerReader: ranges, latest values, last N, since t, per-model energy, info and export,
// and the errors a user sees for an unknown series or table.

#include <gtest/gtest.h>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::TempFolder;
using testing::test_options;

class LedgerReaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_ledger = open_or_die(test_options(m_folder.file("l.db")));
        const auto power = m_ledger->series({"gpu.0.power_watts", "W", "measured"});
        const auto cpu = m_ledger->series({"cpu.power_watts", "W", "estimated"});
        m_ledger->series({"never.written", "J", "measured"});
        std::vector<Sample> samples;
        for (std::int64_t t = 0; t < 100; ++t) {
            samples.push_back({power, t * 1000, 200.0 + static_cast<double>(t)});
            if (t < 50) samples.push_back({cpu, t * 1000 + 500, 50.0 + static_cast<double>(t)});
        }
        ASSERT_TRUE(m_ledger->append(samples));
        for (std::int64_t t = 0; t < 10; ++t) {
            ASSERT_TRUE(
                m_ledger->append(DecisionRecord{t * 10, "threshold", "d" + std::to_string(t), "{}", "[]"}));
            ASSERT_TRUE(m_ledger->append(ActionRecord{t * 10, "gpu.0.power_limit_watts", "gpu0", 700, 600,
                                                      600, "applied", "threshold", "a" + std::to_string(t)}));
            ASSERT_TRUE(m_ledger->append_audit(t * 10, "action", nlohmann::json{{"n", t}}));
        }
        ASSERT_TRUE(m_ledger->append(RequestEnergyRecord{"a", "llama-70b", "gpu0", 0, 1000, 100, 300,
                                                         core::Joules(40), core::Joules(4), 0.01}));
        ASSERT_TRUE(m_ledger->append(RequestEnergyRecord{"b", "llama-70b", "gpu0", 500, 2000, 200, 100,
                                                         core::Joules(20), core::Joules(2), 0.005}));
        ASSERT_TRUE(m_ledger->append(RequestEnergyRecord{"c", "mistral-7b", "gpu1", 0, 3000, 10, 90,
                                                         core::Joules(5), core::Joules(1), 0.001}));
        ASSERT_TRUE(m_ledger->flush());
    }
    const LedgerReader& reader() { return m_ledger->reader(); }

    TempFolder m_folder;
    std::unique_ptr<Ledger> m_ledger;
};

TEST_F(LedgerReaderTest, RangeIsHalfOpenAndOrdered) {
    const auto got = reader().samples("gpu.0.power_watts", 10'000, 13'000).value();
    EXPECT_EQ(got, (std::vector<SamplePoint>{{10'000, 210.0}, {11'000, 211.0}, {12'000, 212.0}}));
    EXPECT_TRUE(reader().samples("gpu.0.power_watts", 500'000, 600'000).value().empty());
}

TEST_F(LedgerReaderTest, UnknownSeriesIsAnErrorThatSaysWhereToLook) {
    const auto got = reader().samples("gpu.9.power_watts", 0, 1);
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().message.find("gpu.9.power_watts"), std::string::npos);
    EXPECT_NE(got.error().message.find("ledger info"), std::string::npos);
}

TEST_F(LedgerReaderTest, LatestOfEachSeriesThatHasSamples) {
    const auto latest = reader().latest().value();
    ASSERT_EQ(latest.size(), 2U);
    EXPECT_EQ(latest[0].series, "gpu.0.power_watts");
    EXPECT_EQ(latest[0].t_ms, 99'000);
    EXPECT_EQ(latest[0].value, 299.0);
    EXPECT_EQ(latest[1].series, "cpu.power_watts");
    EXPECT_EQ(latest[1].t_ms, 49'500);
    EXPECT_EQ(latest[1].unit, "W");
}

TEST_F(LedgerReaderTest, SinceAndLastN) {
    const auto since = reader().decisions(75).value();
    ASSERT_EQ(since.size(), 2U);
    EXPECT_EQ(since[0].rationale, "d8");
    EXPECT_EQ(reader().decisions(0, 3).value().back().rationale, "d2");
    const auto last = reader().last_decisions(3).value();
    ASSERT_EQ(last.size(), 3U);
    EXPECT_EQ(last.front().rationale, "d7");  // oldest first
    EXPECT_EQ(last.back().rationale, "d9");
    const auto actions = reader().last_actions(2).value();
    ASSERT_EQ(actions.size(), 2U);
    EXPECT_EQ(actions.back().reason, "a9");
    EXPECT_EQ(reader().actions(50, 1).value().front().reason, "a5");
    const auto audit = reader().last_audit(4).value();
    ASSERT_EQ(audit.size(), 4U);
    EXPECT_EQ(audit.front().seq, 7);
    EXPECT_EQ(audit.back().body["n"], 9);
    EXPECT_EQ(reader().audit(90).value().size(), 1U);
    // 0 means all, as `joulepilot audit show --last 0` promises.
    EXPECT_EQ(reader().last_audit(0).value().size(), 10U);
    EXPECT_EQ(reader().last_decisions(0).value().size(), 10U);
    EXPECT_EQ(reader().last_actions(0).value().front().reason, "a0");
}

TEST_F(LedgerReaderTest, RequestEnergyByIdAndPerModel) {
    const auto a = reader().request_energy("a").value();
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->joules.value(), 40.0);
    EXPECT_FALSE(reader().request_energy("zzz").value().has_value());
    const auto models = reader().energy_by_model().value();
    ASSERT_EQ(models.size(), 2U);
    EXPECT_EQ(models[0].model, "llama-70b");
    EXPECT_EQ(models[0].requests, 2);
    EXPECT_EQ(models[0].input_tokens, 300);
    EXPECT_EQ(models[0].output_tokens, 400);
    EXPECT_DOUBLE_EQ(models[0].joules.value(), 60.0);
    EXPECT_DOUBLE_EQ(models[0].idle_joules.value(), 6.0);
    EXPECT_DOUBLE_EQ(models[0].joules_per_token(), 60.0 / 700.0);
    // Only requests that ended at or after `since`.
    const auto late = reader().energy_by_model(2500).value();
    ASSERT_EQ(late.size(), 1U);
    EXPECT_EQ(late[0].model, "mistral-7b");
    EXPECT_EQ(reader().requests_since(1500).value().size(), 2U);
}

TEST_F(LedgerReaderTest, InfoCountsRowsPerTable) {
    const auto info = reader().info().value();
    EXPECT_EQ(info.schema_version, kSchemaVersion);
    EXPECT_GT(info.file_bytes, 0U);
    const auto rows = [&](const std::string& table) {
        for (const auto& t : info.tables) {
            if (t.name == table) return t.rows;
        }
        return std::int64_t{-1};
    };
    EXPECT_EQ(rows("series"), 3);
    EXPECT_EQ(rows("samples"), 150);
    EXPECT_EQ(rows("decisions"), 10);
    EXPECT_EQ(rows("audit"), 10);
    EXPECT_EQ(rows("request_energy"), 3);
    EXPECT_EQ(rows("job_state"), 0);
}

TEST_F(LedgerReaderTest, ExportStreamsRowsAsJsonObjects) {
    const auto columns = reader().table_columns("actions").value();
    EXPECT_EQ(columns.front(), "id");
    std::vector<nlohmann::json> rows;
    ASSERT_TRUE(reader().for_each_row("actions", [&](const nlohmann::json& row) { rows.push_back(row); }));
    ASSERT_EQ(rows.size(), 10U);
    EXPECT_EQ(rows[3]["reason"], "a3");
    EXPECT_EQ(rows[3]["before"], 700.0);
    const auto bad = reader().table_columns("sqlite_schema");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("tables: series"), std::string::npos) << bad.error().message;
}

TEST_F(LedgerReaderTest, SamplesExportOneRowPerSampleFromTheirBlocks) {
    EXPECT_EQ(reader().table_columns("samples").value(),
              (std::vector<std::string>{"series_id", "t_ms", "value"}));
    std::vector<nlohmann::json> rows;
    ASSERT_TRUE(reader().for_each_row("samples", [&](const nlohmann::json& row) { rows.push_back(row); }));
    ASSERT_EQ(rows.size(), 150U);
    // Series 1 (gpu.0.power_watts) first, in time order: 100 samples, 1 s apart, over two minute blocks.
    for (std::size_t i = 0; i < 100; ++i) {
        EXPECT_EQ(rows[i]["series_id"], 1);
        EXPECT_EQ(rows[i]["t_ms"], static_cast<std::int64_t>(i) * 1000);
        EXPECT_EQ(rows[i]["value"], 200.0 + static_cast<double>(i));
    }
    EXPECT_EQ(rows[100]["series_id"], 2);
    EXPECT_EQ(rows[100]["t_ms"], 500);
}

TEST_F(LedgerReaderTest, DamagedBlockIsReportedNotMisread) {
    {
        testing::RawConnection raw(m_folder.file("l.db"));
        raw.exec_or_fail("UPDATE sample_blocks SET count = count + 1 WHERE series_id = 2");
    }
    const auto got = reader().samples("cpu.power_watts", 0, 1'000'000);
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().message.find("damaged"), std::string::npos) << got.error().message;
    EXPECT_NE(got.error().message.find("cpu.power_watts"), std::string::npos) << got.error().message;
    EXPECT_TRUE(reader().samples("gpu.0.power_watts", 0, 1'000'000));
}

TEST_F(LedgerReaderTest, ConcurrentReadersSeeCommittedData) {
    // A second reader on the same file (as the CLI would open while the agent runs).
    auto other = LedgerReader::open(m_folder.file("l.db"));
    ASSERT_TRUE(other);
    EXPECT_EQ((*other)->samples("cpu.power_watts", 0, 1'000'000).value().size(), 50U);
}

}  // namespace
}  // namespace joulepilot::ledger
