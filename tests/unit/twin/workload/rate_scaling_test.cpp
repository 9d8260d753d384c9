#include "twin/workload/rate_scaling.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::twin {
namespace {

using core::Seconds;

bool by_arrival(const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; }

// A replica-second per 1000 tokens: simple enough to check by hand.
double thousand_tokens_per_second(int input_tokens, int output_tokens) {
    return (input_tokens + output_tokens) / 1000.0;
}

RequestSpec request(double arrival_s, int input_tokens = 500, int output_tokens = 500) {
    return RequestSpec{Seconds(arrival_s), input_tokens, output_tokens};
}

// n requests spread evenly over [0, span_s), all of cost 1 replica-second.
Workload even_workload(std::size_t n, double span_s) {
    Workload workload;
    for (std::size_t i = 0; i < n; ++i) workload.push_back(request(span_s * static_cast<double>(i) / n));
    return workload;
}

// Random sorted workloads: gaps of 0 to 10 s (repeated arrivals included), 1 to 4000 tokens.
rc::Gen<Workload> sorted_workloads() {
    return rc::gen::map(rc::gen::container<std::vector<std::pair<int, int>>>(
                            rc::gen::pair(rc::gen::inRange(0, 10'000), rc::gen::inRange(1, 4000))),
                        [](const std::vector<std::pair<int, int>>& draws) {
                            Workload workload;
                            double t = 0;
                            for (const auto& [gap_ms, tokens] : draws) {
                                t += gap_ms / 1000.0;
                                workload.push_back(request(t, tokens, tokens / 2 + 1));
                            }
                            return workload;
                        });
}

TEST(PeakDemand, FindsTheBusiestWindowInReplicas) {
    // Windows of 10 s: [0,10) costs 1, [10,20) costs 3 + 1, [20,30) nothing, [30,40) costs 2.
    const Workload workload = {request(0.5), request(10.0, 2000, 1000), request(19.999),
                               request(30.0, 1000, 1000)};
    const PeakDemand peak = peak_demand(workload, Seconds(10), thousand_tokens_per_second);
    EXPECT_DOUBLE_EQ(peak.window_start.value(), 10.0);
    EXPECT_DOUBLE_EQ(peak.replicas_needed, 0.4);  // 4 replica-seconds over 10 s
}

TEST(PeakDemand, TiesGoToTheEarliestWindowAndUnsortedInputIsSorted) {
    const Workload workload = {request(25.0), request(5.0), request(45.0)};
    const PeakDemand peak = peak_demand(workload, Seconds(20), thousand_tokens_per_second);
    EXPECT_DOUBLE_EQ(peak.window_start.value(), 0.0);
    EXPECT_DOUBLE_EQ(peak.replicas_needed, 1.0 / 20);
}

TEST(PeakDemand, EmptyWorkloadOrWindowHasNoDemand) {
    const PeakDemand none = peak_demand({}, Seconds(60), thousand_tokens_per_second);
    EXPECT_EQ(none.window_start.value(), 0.0);
    EXPECT_EQ(none.replicas_needed, 0.0);
    EXPECT_EQ(peak_demand({request(1)}, Seconds(0), thousand_tokens_per_second).replicas_needed, 0.0);
}

TEST(PeakDemand, PeakIsAtLeastTheAverageAndAtMostTheTotal) {
    const bool ok = rc::check("mean demand <= peak demand <= total cost / window", [] {
        const Workload workload = *rc::gen::nonEmpty(sorted_workloads());
        const double window_s = *rc::gen::inRange(1, 120);
        const PeakDemand peak = peak_demand(workload, Seconds(window_s), thousand_tokens_per_second);
        double total = 0;
        double in_peak = 0;
        for (const auto& r : workload) {
            const double cost = thousand_tokens_per_second(r.input_tokens, r.output_tokens);
            total += cost;
            if (r.arrival >= peak.window_start && r.arrival < peak.window_start + Seconds(window_s))
                in_peak += cost;
        }
        const double windows = std::floor(workload.back().arrival.value() / window_s) + 1;
        RC_ASSERT(peak.replicas_needed <= total / window_s + 1e-9);
        RC_ASSERT(peak.replicas_needed >= total / (windows * window_s) - 1e-9);
        RC_ASSERT(std::abs(peak.replicas_needed - in_peak / window_s) <= 1e-9);
        RC_ASSERT(std::fmod(peak.window_start.value(), window_s) == 0.0);
    });
    EXPECT_TRUE(ok);
}

TEST(PeakDemand, AStreamGivesTheVectorsNumbersAndItsCount) {
    const bool ok = rc::check("peak_demand(stream) == peak_demand(vector), bit for bit", [] {
        const Workload workload = *sorted_workloads();
        const double window_s = *rc::gen::inRange(1, 120);
        const PeakDemand from_vector = peak_demand(workload, Seconds(window_s), thousand_tokens_per_second);
        std::size_t count = 0;
        const PeakDemand from_stream =
            peak_demand(*workload_source(workload)->open(), Seconds(window_s), thousand_tokens_per_second, &count);
        RC_ASSERT(count == workload.size());
        RC_ASSERT(from_stream.replicas_needed == from_vector.replicas_needed);
        RC_ASSERT(from_stream.window_start.value() == from_vector.window_start.value());
        const double f_vector = peak_scale_factor(workload, Seconds(window_s), 0.75, 8, thousand_tokens_per_second);
        const double f_stream =
            peak_scale_factor(*workload_source(workload)->open(), Seconds(window_s), 0.75, 8, thousand_tokens_per_second);
        RC_ASSERT(f_stream == f_vector);
    });
    EXPECT_TRUE(ok);
}

TEST(PeakScaleFactor, MakesThePeakNeedTheFractionOfTheFleet) {
    // 1200 requests of 1 replica-second evenly over 600 s: 2 replicas in every 60 s window.
    const Workload workload = even_workload(1200, 600);
    const double factor = peak_scale_factor(workload, Seconds(60), 0.8, 10, thousand_tokens_per_second);
    EXPECT_NEAR(factor, 0.8 * 10 / 2.0, 1e-9);

    const Workload scaled = scale_workload(workload, factor, 5);
    const PeakDemand peak = peak_demand(scaled, Seconds(60), thousand_tokens_per_second);
    EXPECT_NEAR(peak.replicas_needed, 8.0, 8.0 * 0.1);

    EXPECT_EQ(peak_scale_factor({}, Seconds(60), 0.8, 10, thousand_tokens_per_second), 1.0);
}

TEST(ScaleWorkload, FactorOneIsTheIdentity) {
    const Workload workload = {request(0), request(1.5, 10, 20), request(1.5, 30, 40), request(7)};
    const Workload scaled = scale_workload(workload, 1.0, 99);
    ASSERT_EQ(scaled.size(), workload.size());
    for (std::size_t i = 0; i < workload.size(); ++i) {
        EXPECT_EQ(scaled[i].arrival, workload[i].arrival);
        EXPECT_EQ(scaled[i].input_tokens, workload[i].input_tokens);
    }
}

TEST(ScaleWorkload, WholeFactorsCopyEveryRequestInsideItsGap) {
    const Workload workload = {request(0, 1, 1), request(10, 2, 2), request(20, 3, 3)};
    const Workload scaled = scale_workload(workload, 3.0, 1);
    ASSERT_EQ(scaled.size(), 9U);
    EXPECT_TRUE(std::is_sorted(scaled.begin(), scaled.end(), by_arrival));
    for (const auto& r : scaled) {
        // A copy of request k lies in [10 (k - 1), 10 k], the last one's copies at its own arrival.
        const double origin = (r.input_tokens - 1) * 10.0;
        EXPECT_GE(r.arrival.value(), origin);
        EXPECT_LE(r.arrival.value(), r.input_tokens == 3 ? origin : origin + 10.0);
    }
    EXPECT_EQ(
        std::count_if(scaled.begin(), scaled.end(), [](const auto& r) { return r.arrival.value() == 20.0; }),
        3);
}

TEST(ScaleWorkload, IsDeterministicBySeed) {
    const Workload workload = even_workload(500, 100);
    const Workload a = scale_workload(workload, 1.7, 123);
    const Workload b = scale_workload(workload, 1.7, 123);
    const Workload c = scale_workload(workload, 1.7, 124);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i].arrival, b[i].arrival);
    const bool same_as_other_seed =
        a.size() == c.size() && std::equal(a.begin(), a.end(), c.begin(), [](const auto& x, const auto& y) {
            return x.arrival == y.arrival;
        });
    EXPECT_FALSE(same_as_other_seed);
}

TEST(ScaleWorkload, KeepsOrderSpanAndOriginals) {
    const bool ok = rc::check("scaling keeps sorting and duration, and keeps every original for F >= 1", [] {
        const Workload workload = *sorted_workloads();
        const double factor = *rc::gen::inRange(1, 400) / 100.0;
        const auto seed = *rc::gen::arbitrary<std::uint64_t>();
        const Workload scaled = scale_workload(workload, factor, seed);

        RC_ASSERT(std::is_sorted(scaled.begin(), scaled.end(), by_arrival));
        const auto n = static_cast<double>(workload.size());
        RC_ASSERT(static_cast<double>(scaled.size()) >= n * std::floor(factor));
        RC_ASSERT(static_cast<double>(scaled.size()) <= n * std::ceil(factor));
        if (workload.empty() || scaled.empty()) return;
        // (RC_ASSERT decomposes its expression: `a || b` inside it would not short-circuit.)
        RC_ASSERT(scaled.front().arrival >= workload.front().arrival);
        RC_ASSERT(scaled.back().arrival <= workload.back().arrival);
        if (factor >= 1) {
            for (const auto& original : workload) {
                RC_ASSERT(std::any_of(scaled.begin(), scaled.end(), [&](const RequestSpec& r) {
                    return r.arrival == original.arrival && r.input_tokens == original.input_tokens;
                }));
            }
        }
        RC_ASSERT(scale_workload(workload, factor, seed).size() == scaled.size());  // deterministic
    });
    EXPECT_TRUE(ok);
}

TEST(ScaleWorkload, ThinningKeepsAboutFTimesTheRequests) {
    const bool ok = rc::check("thinning by F keeps about F x n requests", [] {
        const double factor = *rc::gen::inRange(1, 99) / 100.0;
        const auto seed = *rc::gen::arbitrary<std::uint64_t>();
        const Workload workload = even_workload(5000, 3600);
        const Workload thinned = scale_workload(workload, factor, seed);
        const double n = 5000;
        // Binomial(n, F): five standard deviations.
        const double tolerance = 5 * std::sqrt(n * factor * (1 - factor)) + 1;
        RC_ASSERT(std::abs(static_cast<double>(thinned.size()) - factor * n) <= tolerance);
        RC_ASSERT(std::is_sorted(thinned.begin(), thinned.end(), by_arrival));
    });
    EXPECT_TRUE(ok);
}

TEST(ScaleWorkload, FractionalFactorsAddCopiesWithTheirProbability) {
    const Workload workload = even_workload(20000, 3600);
    const Workload scaled = scale_workload(workload, 2.25, 8);
    const double sd = std::sqrt(20000 * 0.25 * 0.75);
    EXPECT_NEAR(static_cast<double>(scaled.size()), 2.25 * 20000, 5 * sd);
}

}  // namespace
}  // namespace joulepilot::twin
