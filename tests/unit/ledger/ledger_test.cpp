// Ledger round trips: whatever samples, decisions, actions, requests, job states and audit entries go
// in come back identical (RapidCheck), also when samples pile into the same minute blocks in any order,
// with repeated instants, across minute edges and over several commits; plus the facade's small
// contracts (series ids, NaN, reopen).

#include "ledger/ledger.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "ledger_fixture.hpp"

namespace joulepilot::ledger {
namespace {

using testing::open_or_die;
using testing::TempFolder;
using testing::test_options;

// Printable text of any length, including quotes, commas and newlines (CSV/JSON trouble makers).
rc::Gen<std::string> text() {
    return rc::gen::resize(
        16, rc::gen::container<std::string>(rc::gen::elementOf(std::string("abcXYZ019 ,\"'\n\t{}[]:.-_"))));
}

// Collections of at most ~20 elements: enough to mix orders and duplicates, small enough that 100 cases
// stay fast under the sanitizers.
template <class T>
rc::Gen<T> small(rc::Gen<T> gen) {
    return rc::gen::resize(20, std::move(gen));
}

rc::Gen<double> finite() {
    return rc::gen::map(rc::gen::arbitrary<double>(), [](double v) { return std::isfinite(v) ? v : 0.0; });
}

// One ledger for all cases of the property (opening a new file costs several fsyncs); each case writes
// under its own names and time window, so earlier cases' rows are there too, as in a real ledger. The
// check reads through a fresh connection to the file, not through the writer's memory.
struct SharedLedger {
    TempFolder folder;
    std::unique_ptr<Ledger> ledger = open_or_die(test_options(folder.file("round-trip.db")));
    std::int64_t next_case = 0;
};

SharedLedger& shared_ledger() {
    static SharedLedger shared;
    return shared;
}

RC_GTEST_PROP(LedgerRoundTrip, WhatGoesInComesBackIdentical, ()) {
    auto& shared = shared_ledger();
    auto& ledger = *shared.ledger;
    const auto case_id = shared.next_case++;
    const auto prefix = "case" + std::to_string(case_id) + ".";
    constexpr std::int64_t kWindow = 1'000'000;  // decisions, actions and audit of a case: their own window
    const std::int64_t t0 = case_id * kWindow;

    const auto series_count = *rc::gen::inRange(1, 4);
    // Unique times per series: a second sample at the same instant replaces the first (tested below).
    std::vector<std::map<std::int64_t, double>> samples(static_cast<std::size_t>(series_count));
    for (auto& points : samples) {
        const auto times = *small(rc::gen::container<std::set<std::int64_t>>(
            rc::gen::inRange<std::int64_t>(-4'000'000'000'000, 4'000'000'000'000)));
        for (const auto t : times) points[t] = *finite();
    }
    auto decisions =
        *small(rc::gen::container<std::vector<DecisionRecord>>(rc::gen::construct<DecisionRecord>(
            rc::gen::inRange<std::int64_t>(0, kWindow), text(), text(), text(), text())));
    auto actions = *small(rc::gen::container<std::vector<ActionRecord>>(
        rc::gen::construct<ActionRecord>(rc::gen::inRange<std::int64_t>(0, kWindow), text(), text(), finite(),
                                         finite(), finite(), text(), text(), text())));
    for (auto& d : decisions) d.t_ms += t0;
    for (auto& a : actions) a.t_ms += t0;
    const auto request_count = *rc::gen::inRange(0, 10);
    std::map<std::string, RequestEnergyRecord> requests;
    for (int i = 0; i < request_count; ++i) {
        RequestEnergyRecord r{prefix + std::to_string(i) + *text(),
                              *text(),
                              *text(),
                              *rc::gen::inRange<std::int64_t>(0, kWindow),
                              *rc::gen::inRange<std::int64_t>(0, kWindow),
                              *rc::gen::inRange<std::int64_t>(0, 100'000),
                              *rc::gen::inRange<std::int64_t>(0, 100'000),
                              core::Joules(*finite()),
                              core::Joules(*finite()),
                              *finite()};
        requests[r.id] = r;
    }
    const auto audit_bodies = *small(rc::gen::container<std::vector<std::pair<std::string, std::int64_t>>>(
        rc::gen::pair(text(), rc::gen::arbitrary<std::int64_t>())));

    std::vector<Sample> all;
    for (std::size_t s = 0; s < samples.size(); ++s) {
        const auto id = ledger.series({prefix + std::to_string(s), "W", "measured"});
        for (const auto& [t, v] : samples[s]) all.push_back({id, t, v});
    }
    // Single appends and a batch: the way records arrive must not matter.
    const auto split = *rc::gen::inRange<std::size_t>(0, all.size() + 1);
    for (std::size_t i = 0; i < split; ++i) RC_ASSERT(ledger.append(all[i]));
    RC_ASSERT(ledger.append(std::span<const Sample>(all).subspan(split)));
    for (const auto& d : decisions) RC_ASSERT(ledger.append(d));
    for (const auto& a : actions) RC_ASSERT(ledger.append(a));
    for (const auto& [id, r] : requests) RC_ASSERT(ledger.append(r));
    for (std::size_t i = 0; i < audit_bodies.size(); ++i) {
        RC_ASSERT(ledger.append_audit(
            t0 + static_cast<std::int64_t>(i), "kind." + std::to_string(i),
            nlohmann::json{{"text", audit_bodies[i].first}, {"n", audit_bodies[i].second}}));
    }
    RC_ASSERT(ledger.flush().has_value());
    RC_ASSERT(ledger.stats().dropped == 0U);

    auto reader = LedgerReader::open(shared.folder.file("round-trip.db"));
    RC_ASSERT(reader.has_value());
    for (std::size_t s = 0; s < samples.size(); ++s) {
        auto got = (*reader)->samples(prefix + std::to_string(s), INT64_MIN, INT64_MAX);
        RC_ASSERT(got.has_value());
        std::vector<SamplePoint> expected;
        for (const auto& [t, v] : samples[s]) expected.push_back({t, v});
        RC_ASSERT(*got == expected);
    }
    // Decisions and actions come back ordered by time, ties in arrival order.
    std::stable_sort(decisions.begin(), decisions.end(),
                     [](const auto& a, const auto& b) { return a.t_ms < b.t_ms; });
    auto got_decisions = (*reader)->decisions(t0);
    RC_ASSERT(got_decisions.has_value());
    RC_ASSERT(*got_decisions == decisions);
    std::stable_sort(actions.begin(), actions.end(),
                     [](const auto& a, const auto& b) { return a.t_ms < b.t_ms; });
    auto got_actions = (*reader)->actions(t0);
    RC_ASSERT(got_actions.has_value());
    RC_ASSERT(*got_actions == actions);
    for (const auto& [id, r] : requests) {
        auto got = (*reader)->request_energy(id);
        RC_ASSERT(got.has_value());
        RC_ASSERT(got->has_value());
        RC_ASSERT(**got == r);
    }
    auto audit = (*reader)->audit(t0);
    RC_ASSERT(audit.has_value());
    RC_ASSERT(audit->size() == audit_bodies.size());
    for (std::size_t i = 0; i < audit->size(); ++i) {
        RC_ASSERT((*audit)[i].kind == "kind." + std::to_string(i));
        RC_ASSERT((*audit)[i].body["text"] == audit_bodies[i].first);
        RC_ASSERT((*audit)[i].body["n"] == audit_bodies[i].second);
    }
    // The chain over all cases' bodies so far; every few cases only, as the walk grows with the chain.
    if (case_id % 8 == 0) {
        auto verdict = (*reader)->verify_audit();
        RC_ASSERT(verdict.has_value());
        RC_ASSERT(verdict->intact());
    }
}

constexpr std::int64_t kMinuteMs = 60'000;

// Samples packed into a few minute blocks: times from a small pool (so instants repeat), spread over
// three minutes around a minute edge (before 1970 too), arriving shuffled, in chunks, single or batched,
// some chunks committed before the next arrives (so a block is merged with what is stored). The later
// value of an instant wins; reads of any sub-range see exactly the samples in it.
RC_GTEST_PROP(LedgerRoundTrip, SamplesInAnyOrderAcrossMinuteBlocksComeBackLatestWins, ()) {
    auto& shared = shared_ledger();
    auto& ledger = *shared.ledger;
    const auto case_id = shared.next_case++;
    const auto name = "blocks." + std::to_string(case_id);
    const auto id = ledger.series({name, "W", "measured"});

    const std::int64_t edge =
        *rc::gen::element<std::int64_t>(0, -7 * kMinuteMs, 1'700'000'040'000 / kMinuteMs * kMinuteMs);
    const std::int64_t start = edge - *rc::gen::inRange<std::int64_t>(1, kMinuteMs);
    const auto pool = *rc::gen::nonEmpty(small(
        rc::gen::container<std::vector<std::int64_t>>(rc::gen::inRange<std::int64_t>(0, 3 * kMinuteMs))));
    const auto count = *rc::gen::inRange<std::size_t>(1, 120);
    std::vector<Sample> samples;
    for (std::size_t i = 0; i < count; ++i) {
        samples.push_back({id, start + *rc::gen::elementOf(pool), *finite()});
    }
    std::map<std::int64_t, double> expected;
    for (const auto& sample : samples) expected[sample.t_ms] = sample.value;

    std::size_t next = 0;
    while (next < samples.size()) {
        const auto size = *rc::gen::inRange<std::size_t>(1, samples.size() - next + 1);
        const std::span<const Sample> chunk(samples.data() + next, size);
        if (*rc::gen::arbitrary<bool>()) {
            RC_ASSERT(ledger.append(chunk));
        } else {
            for (const auto& sample : chunk) RC_ASSERT(ledger.append(sample));
        }
        if (*rc::gen::arbitrary<bool>()) RC_ASSERT(ledger.flush().has_value());
        next += size;
    }
    RC_ASSERT(ledger.flush().has_value());

    auto reader = LedgerReader::open(shared.folder.file("round-trip.db"));
    RC_ASSERT(reader.has_value());
    auto all = (*reader)->samples(name, INT64_MIN, INT64_MAX);
    RC_ASSERT(all.has_value());
    std::vector<SamplePoint> want;
    for (const auto& [t, v] : expected) want.push_back({t, v});
    RC_ASSERT(*all == want);

    const auto from = start + *rc::gen::inRange<std::int64_t>(-10, 3 * kMinuteMs);
    const auto to = from + *rc::gen::inRange<std::int64_t>(0, 2 * kMinuteMs);
    auto part = (*reader)->samples(name, from, to);
    RC_ASSERT(part.has_value());
    std::vector<SamplePoint> want_part;
    for (const auto& point : want) {
        if (point.t_ms >= from && point.t_ms < to) want_part.push_back(point);
    }
    RC_ASSERT(*part == want_part);
    const auto latest = (*reader)->latest();
    RC_ASSERT(latest.has_value());
    const auto mine =
        std::find_if(latest->begin(), latest->end(), [&](const auto& l) { return l.series == name; });
    RC_ASSERT(mine != latest->end());
    RC_ASSERT(mine->t_ms == want.back().t_ms);
    RC_ASSERT(mine->value == want.back().value);
}

TEST(Ledger, BlocksContinueAcrossReopen) {
    // A new writer knows nothing of the blocks in the file: appending to the newest minute, to an older
    // one (a late sample) and to a new one must merge with what is stored, not replace it.
    TempFolder folder;
    SeriesId id = 0;
    {
        auto ledger = open_or_die(test_options(folder.file("l.db")));
        id = ledger->series({"x", "W", "measured"});
        std::vector<Sample> samples;
        for (std::int64_t s = 0; s < 150; s += 10) samples.push_back({id, s * 1000, static_cast<double>(s)});
        ASSERT_TRUE(ledger->append(samples));  // minutes 0, 1 and 2 (up to 2:20)
    }
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    ASSERT_TRUE(ledger->append(Sample{id, 145'000, -1.0}));  // newest minute
    ASSERT_TRUE(ledger->append(Sample{id, 5'000, -2.0}));    // oldest minute, late
    ASSERT_TRUE(ledger->append(Sample{id, 70'000, -3.0}));   // replaces 1:10
    ASSERT_TRUE(ledger->append(Sample{id, 200'000, -4.0}));  // a new minute
    ASSERT_TRUE(ledger->flush());
    std::vector<SamplePoint> want;
    for (std::int64_t s = 0; s < 150; s += 10) want.push_back({s * 1000, static_cast<double>(s)});
    want.push_back({145'000, -1.0});
    want.push_back({5'000, -2.0});
    want.push_back({200'000, -4.0});
    std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.t_ms < b.t_ms; });
    for (auto& p : want) {
        if (p.t_ms == 70'000) p.value = -3.0;
    }
    EXPECT_EQ(ledger->reader().samples("x", INT64_MIN, INT64_MAX).value(), want);
    auto info = ledger->reader().info().value();
    for (const auto& table : info.tables) {
        if (table.name == "samples") {
            EXPECT_EQ(table.rows, static_cast<std::int64_t>(want.size()));
        }
    }
}

TEST(Ledger, TimesTooEarlyForABlockAreRejectedAndCounted) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    const auto id = ledger->series({"x", "W", "measured"});
    EXPECT_FALSE(ledger->append(Sample{id, INT64_MIN, 1.0}));
    ASSERT_TRUE(ledger->append(Sample{id, INT64_MAX - 1, 2.0}));  // the last minute still has a block
    ASSERT_TRUE(ledger->flush());
    EXPECT_EQ(ledger->stats().rejected, 1U);
    EXPECT_EQ(ledger->reader().samples("x", INT64_MIN, INT64_MAX).value(),
              (std::vector<SamplePoint>{{INT64_MAX - 1, 2.0}}));
}

TEST(Ledger, SeriesIdsAreStableAcrossReopen) {
    TempFolder folder;
    SeriesId power = 0;
    {
        auto ledger = open_or_die(test_options(folder.file("l.db")));
        power = ledger->series({"gpu.0.power_watts", "W", "measured"});
        EXPECT_EQ(ledger->series({"gpu.0.power_watts", "ignored", "ignored"}), power);
        const auto energy = ledger->series({"gpu.0.energy_joules", "J", "measured"});
        EXPECT_NE(energy, power);
        ASSERT_TRUE(ledger->append(Sample{power, 1000, 250.0}));
        ASSERT_TRUE(ledger->flush());
    }
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    EXPECT_EQ(ledger->series({"gpu.0.power_watts", "W", "measured"}), power);
    const auto third = ledger->series({"cpu.power_watts", "W", "estimated"});
    EXPECT_GT(third, power);
    ASSERT_TRUE(ledger->flush());
    auto series = ledger->reader().series();
    ASSERT_TRUE(series);
    ASSERT_EQ(series->size(), 3U);
    EXPECT_EQ((*series)[0], (SeriesInfo{"gpu.0.power_watts", "W", "measured"}));
    EXPECT_EQ((*series)[2], (SeriesInfo{"cpu.power_watts", "W", "estimated"}));
}

TEST(Ledger, SameInstantTwiceKeepsTheLaterValue) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    const auto id = ledger->series({"x", "W", "measured"});
    ASSERT_TRUE(ledger->append(Sample{id, 5, 1.0}));
    ASSERT_TRUE(ledger->append(Sample{id, 5, 2.0}));
    ASSERT_TRUE(ledger->flush());
    auto got = ledger->reader().samples("x", 0, 10);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, (std::vector<SamplePoint>{{5, 2.0}}));
}

TEST(Ledger, NanSamplesAreRejectedAndCounted) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    const auto id = ledger->series({"x", "W", "measured"});
    const std::vector<Sample> batch{{id, 1, 1.0}, {id, 2, std::nan("")}, {id, 3, 3.0}};
    ledger->append(batch);
    EXPECT_FALSE(ledger->append(Sample{id, 4, std::nan("")}));
    ASSERT_TRUE(ledger->flush());
    EXPECT_EQ(ledger->stats().rejected, 2U);
    EXPECT_EQ(ledger->stats().written, 3U);  // the series row and two samples
    auto got = ledger->reader().samples("x", 0, 10);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, (std::vector<SamplePoint>{{1, 1.0}, {3, 3.0}}));
}

TEST(Ledger, JobStateCommitIsVisibleAtOnceAndReplaces) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    ASSERT_TRUE(ledger->commit(JobStateRecord{"train-7", R"({"state":"suspended"})", 100}));
    auto got = ledger->reader().job_state("train-7");
    ASSERT_TRUE(got);
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->state_json, R"({"state":"suspended"})");
    ASSERT_TRUE(ledger->commit(JobStateRecord{"train-7", R"({"state":"released"})", 200}));
    auto all = ledger->reader().job_states();
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, (std::vector<JobStateRecord>{{"train-7", R"({"state":"released"})", 200}}));
    auto missing = ledger->reader().job_state("nope");
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());
}

TEST(Ledger, KeyValuesRoundTrip) {
    TempFolder folder;
    auto ledger = open_or_die(test_options(folder.file("l.db")));
    ASSERT_TRUE(ledger->put_value("baseline.j_per_token", "0.42"));
    ASSERT_TRUE(ledger->put_value("baseline.j_per_token", "0.40"));
    ASSERT_TRUE(ledger->flush());
    auto got = ledger->reader().value("baseline.j_per_token");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->value_or(""), "0.40");
}

TEST(Ledger, SecondWriterOnTheSameFileIsRefused) {
    TempFolder folder;
    auto first = open_or_die(test_options(folder.file("l.db")));
    auto second = Ledger::open(test_options(folder.file("l.db")));
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("already open for writing"), std::string::npos)
        << second.error().message;
}

TEST(Ledger, MillisecondConversionRoundsToNearest) {
    EXPECT_EQ(to_ms(core::Seconds(1.0006)), 1001);
    EXPECT_EQ(to_ms(core::Seconds(-1.0006)), -1001);
    EXPECT_EQ(to_ms(core::Seconds(2.0004)), 2000);
    EXPECT_DOUBLE_EQ(from_ms(1500).value(), 1.5);
}

}  // namespace
}  // namespace joulepilot::ledger
