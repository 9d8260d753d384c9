#include "learn/request_energy.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::learn {
namespace {

RequestRecord request(std::string id, double start, double end, std::uint64_t in, std::uint64_t out,
                      std::string model = "llama", unsigned gpu = 0) {
    return RequestRecord{
        std::move(id), core::Seconds(start), core::Seconds(end), in, out, std::move(model), gpu};
}

GpuEnergyInterval interval(unsigned gpu, double start, double end, double joules) {
    return GpuEnergyInterval{gpu, core::Seconds(start), core::Seconds(end), core::Joules(joules)};
}

void expect_conserved(const RequestEnergyLedger& ledger) {
    const RequestEnergyTotals& t = ledger.totals();
    EXPECT_EQ(t.idle_uj + t.attributed_uj, t.measured_uj);
}

TEST(RequestEnergy, OneRequestCoveringTheIntervalGetsAllOfIt) {
    RequestEnergyLedger ledger;
    ASSERT_TRUE(ledger.add_request(request("a", 100, 110, 200, 300)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 100, 110, 5000)));
    const auto a = ledger.request("a");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->energy_uj, 5'000'000'000);
    EXPECT_DOUBLE_EQ(*a->joules_per_token(), 10.0);
    EXPECT_TRUE(a->complete());
    EXPECT_EQ(ledger.totals().idle_uj, 0);
    expect_conserved(ledger);
}

TEST(RequestEnergy, TimeWithNoRequestIsIdleAndTheRestGoesByTokensInTheOverlap) {
    RequestEnergyLedger ledger;
    // Interval [0, 10) with 100 J (10 W). Request a runs [0, 4) with 40 tokens; b runs [2, 6) with 120
    // tokens. Busy: [0, 6) = 6 s -> 60 J to requests, 40 J idle. Tokens in the overlap: a 40, b 120.
    ASSERT_TRUE(ledger.add_request(request("a", 0, 4, 10, 30)));
    ASSERT_TRUE(ledger.add_request(request("b", 2, 6, 20, 100)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 100)));
    EXPECT_EQ(ledger.totals().idle_uj, 40'000'000);
    EXPECT_EQ(ledger.request("a")->energy_uj, 15'000'000);
    EXPECT_EQ(ledger.request("b")->energy_uj, 45'000'000);
    expect_conserved(ledger);
}

TEST(RequestEnergy, ARequestSpanningIntervalsGetsTheTokensOfEachOverlap) {
    RequestEnergyLedger ledger;
    // a spans [0, 20) with 100 tokens: 50 tokens in each 10 s interval. b runs only in the first, 50
    // tokens. First interval: a and b share 50/50; second: a alone.
    ASSERT_TRUE(ledger.add_request(request("a", 0, 20, 0, 100)));
    ASSERT_TRUE(ledger.add_request(request("b", 0, 10, 25, 25)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 80)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 10, 20, 30)));
    EXPECT_EQ(ledger.request("a")->energy_uj, 40'000'000 + 30'000'000);
    EXPECT_EQ(ledger.request("b")->energy_uj, 40'000'000);
    EXPECT_DOUBLE_EQ(*ledger.request("a")->joules_per_token(), 0.7);
    expect_conserved(ledger);
}

TEST(RequestEnergy, ARequestPostedAfterItsIntervalTakesItsShareFromIdleAndOthers) {
    RequestEnergyLedger ledger;
    ASSERT_TRUE(ledger.add_request(request("early", 0, 10, 50, 50)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 100)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 10, 20, 50)));
    EXPECT_EQ(ledger.request("early")->energy_uj, 100'000'000);
    EXPECT_EQ(ledger.totals().idle_uj, 50'000'000);
    // Posted late, within the history window: it re-splits both intervals.
    ASSERT_TRUE(ledger.add_request(request("late", 5, 20, 0, 300)));
    EXPECT_EQ(ledger.request("early")->energy_uj, 50'000'000);  // tokens in [0,10): 100 vs 100
    EXPECT_EQ(ledger.request("late")->energy_uj, 50'000'000 + 50'000'000);
    EXPECT_EQ(ledger.totals().idle_uj, 0);
    EXPECT_TRUE(ledger.request("late")->complete());
    expect_conserved(ledger);
}

TEST(RequestEnergy, GpusAreSeparate) {
    RequestEnergyLedger ledger;
    ASSERT_TRUE(ledger.add_request(request("on0", 0, 10, 1, 1, "m", 0)));
    ASSERT_TRUE(ledger.add_request(request("on1", 0, 5, 1, 1, "m", 1)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 70)));
    ASSERT_TRUE(ledger.add_energy(interval(1, 0, 10, 20)));
    EXPECT_EQ(ledger.request("on0")->energy_uj, 70'000'000);
    EXPECT_EQ(ledger.request("on1")->energy_uj, 10'000'000);
    EXPECT_EQ(ledger.totals().idle_uj, 10'000'000);
    expect_conserved(ledger);
}

TEST(RequestEnergy, AggregatesPerModel) {
    RequestEnergyLedger ledger;
    ASSERT_TRUE(ledger.add_request(request("a", 0, 10, 10, 10, "llama")));
    ASSERT_TRUE(ledger.add_request(request("b", 0, 10, 10, 10, "llama")));
    ASSERT_TRUE(ledger.add_request(request("c", 0, 10, 20, 20, "qwen")));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 80)));
    const auto models = ledger.models();
    ASSERT_EQ(models.size(), 2u);
    EXPECT_EQ(models[0].model, "llama");
    EXPECT_EQ(models[0].requests, 2u);
    EXPECT_EQ(models[0].energy_uj, 40'000'000);
    EXPECT_DOUBLE_EQ(*models[0].joules_per_token(), 1.0);
    EXPECT_EQ(models[1].model, "qwen");
    EXPECT_EQ(models[1].energy_uj, 40'000'000);
}

TEST(RequestEnergy, RequestsOlderThanTheHistoryWindowAreRejectedAsLate) {
    RequestEnergyLedger ledger(RequestEnergyOptions{core::Seconds(60), 1000});
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 100)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 100, 110, 100)));  // horizon is now 50: [0, 10) is final
    EXPECT_EQ(ledger.horizon()->value(), 50.0);
    EXPECT_EQ(ledger.intervals_held(), 1u);
    const auto late = ledger.add_request(request("late", 0, 10, 1, 1));
    ASSERT_FALSE(late);
    EXPECT_NE(late.error().message.find("history window"), std::string::npos);
    EXPECT_EQ(ledger.totals().late_requests, 1u);
    EXPECT_FALSE(ledger.request("late"));

    // Straddling the horizon: accepted, gets only what is still held, marked partial.
    ASSERT_TRUE(ledger.add_request(request("straddle", 40, 110, 1, 1)));
    const auto s = ledger.request("straddle");
    EXPECT_TRUE(s->partial);
    EXPECT_FALSE(s->complete());
    EXPECT_EQ(s->energy_uj, 100'000'000);
    // The interval that fell behind stays idle: 100 J idle, 100 J to the straddler.
    EXPECT_EQ(ledger.totals().idle_uj, 100'000'000);
    expect_conserved(ledger);

    // Energy that begins before the horizon is too old.
    EXPECT_FALSE(ledger.add_energy(interval(0, 20, 30, 1)));
}

TEST(RequestEnergy, RejectsBadInputNamingIt) {
    RequestEnergyLedger ledger;
    EXPECT_FALSE(ledger.add_request(request("", 0, 1, 1, 1)));
    EXPECT_FALSE(ledger.add_request(request("backwards", 5, 1, 1, 1)));
    ASSERT_TRUE(ledger.add_request(request("dup", 0, 1, 1, 1)));
    const auto dup = ledger.add_request(request("dup", 0, 1, 1, 1));
    ASSERT_FALSE(dup);
    EXPECT_NE(dup.error().message.find("'dup'"), std::string::npos);
    EXPECT_FALSE(ledger.add_energy(interval(0, 5, 5, 1)));
    EXPECT_FALSE(ledger.add_energy(interval(0, 0, 1, -1)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 1)));
    const auto overlapping = ledger.add_energy(interval(0, 9, 12, 1));
    ASSERT_FALSE(overlapping);
    EXPECT_NE(overlapping.error().message.find("overlaps"), std::string::npos);
    EXPECT_FALSE(ledger.add_energy(interval(0, -5, 1, 1)));
    EXPECT_TRUE(ledger.add_energy(interval(0, 10, 12, 1)));  // adjacent is fine
    expect_conserved(ledger);
}

TEST(RequestEnergy, EvictsFinishedRequestsOldestFirstButKeepsThemInTheAggregates) {
    RequestEnergyLedger ledger(RequestEnergyOptions{core::Seconds(10), 2});
    ASSERT_TRUE(ledger.add_request(request("a", 0, 5, 1, 1)));
    ASSERT_TRUE(ledger.add_request(request("b", 0, 5, 1, 1)));
    // Both still open to energy: a third cannot be held.
    EXPECT_FALSE(ledger.add_request(request("c", 0, 5, 1, 1)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 5, 10)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 20, 30, 10)));  // horizon 20: a and b are final
    ASSERT_TRUE(ledger.add_request(request("c", 25, 30, 1, 1)));
    EXPECT_FALSE(ledger.request("a"));
    EXPECT_TRUE(ledger.request("b"));
    EXPECT_EQ(ledger.totals().evicted_requests, 1u);
    EXPECT_EQ(ledger.models()[0].energy_uj, 15'000'000);  // a 5 + b 5 + c 5 (the rest of [20, 30) is idle)
    EXPECT_EQ(ledger.models()[0].requests, 3u);
    expect_conserved(ledger);
}

TEST(RequestEnergy, ZeroTokenRequestsShareByTime) {
    RequestEnergyLedger ledger;
    ASSERT_TRUE(ledger.add_request(request("a", 0, 10, 0, 0)));
    ASSERT_TRUE(ledger.add_request(request("b", 0, 5, 0, 0)));
    ASSERT_TRUE(ledger.add_energy(interval(0, 0, 10, 30)));
    EXPECT_EQ(ledger.request("a")->energy_uj, 20'000'000);
    EXPECT_EQ(ledger.request("b")->energy_uj, 10'000'000);
    EXPECT_FALSE(ledger.request("a")->joules_per_token());
}

// Conservation under any order of posts: every microjoule measured is idle or some request's, and each
// request's energy is what its intervals gave it.
TEST(RequestEnergy, PropertyAttributedPlusIdleIsMeasuredExactlyInAnyOrder) {
    const bool ok =
        rc::check([](std::uint8_t request_count, std::uint8_t interval_count, bool history_short) {
            RequestEnergyLedger ledger(RequestEnergyOptions{core::Seconds(history_short ? 30 : 1e6), 1000});
            struct Post {
                bool is_request;
                RequestRecord r;
                GpuEnergyInterval e;
            };
            std::vector<Post> posts;
            for (int i = 0; i < request_count % 40; ++i) {
                const double start = *rc::gen::inRange(0, 200);
                const double length = *rc::gen::inRange(0, 30);
                posts.push_back({true,
                                 request("r" + std::to_string(i), start, start + length,
                                         *rc::gen::inRange<std::uint64_t>(0, 5000),
                                         *rc::gen::inRange<std::uint64_t>(0, 5000), i % 3 == 0 ? "a" : "b",
                                         static_cast<unsigned>(*rc::gen::inRange(0, 2))),
                                 {}});
            }
            for (int gpu = 0; gpu < 2; ++gpu) {
                double t = 0;
                for (int i = 0; i < interval_count % 30; ++i) {
                    const double length = *rc::gen::inRange(1, 20) * 0.5;
                    const double gap = *rc::gen::element(0.0, 0.0, 3.0);
                    const double joules = *rc::gen::inRange(0, 1'000'000) * 1e-3;
                    posts.push_back(
                        {false, {}, interval(static_cast<unsigned>(gpu), t + gap, t + gap + length, joules)});
                    t += gap + length;
                }
            }
            // Any order of posts: sort by random keys.
            const auto keys = *rc::gen::container<std::vector<int>>(posts.size(), rc::gen::arbitrary<int>());
            std::vector<std::size_t> order(posts.size());
            for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
            std::stable_sort(order.begin(), order.end(),
                             [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
            std::int64_t measured = 0;
            for (const std::size_t index : order) {
                const Post& p = posts[index];
                if (p.is_request) {
                    (void)ledger.add_request(p.r);
                } else if (ledger.add_energy(p.e)) {
                    measured += std::llround(p.e.energy.value() * 1e6);
                }
            }
            const RequestEnergyTotals& t = ledger.totals();
            RC_ASSERT(t.measured_uj == measured);
            RC_ASSERT(t.idle_uj + t.attributed_uj == t.measured_uj);
            RC_ASSERT(t.idle_uj >= 0);
            std::int64_t by_model = 0;
            for (const ModelEnergy& m : ledger.models()) by_model += m.energy_uj;
            RC_ASSERT(by_model == t.attributed_uj);
            std::int64_t by_request = 0;
            for (const Post& p : posts) {
                if (!p.is_request) continue;
                if (const auto r = ledger.request(p.r.id)) {
                    RC_ASSERT(r->energy_uj >= 0);
                    by_request += r->energy_uj;
                }
            }
            if (t.evicted_requests == 0) RC_ASSERT(by_request == t.attributed_uj);
        });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::learn
