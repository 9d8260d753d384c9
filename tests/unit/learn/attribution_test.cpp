#include "learn/attribution.hpp"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::learn {
namespace {

TEST(Attribution, SplitsIdleThenSharesTheRestByWeight) {
    const std::vector<double> weights = {1.0, 3.0};
    const auto a = attribute_energy({core::Joules(100), core::Seconds(2), core::Watts(20)}, weights);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->measured_uj, 100'000'000);
    EXPECT_EQ(a->idle_uj, 40'000'000);
    EXPECT_EQ(a->consumer_uj, (std::vector<std::int64_t>{15'000'000, 45'000'000}));
    EXPECT_DOUBLE_EQ(a->consumer(1).value(), 45.0);
    EXPECT_DOUBLE_EQ(a->idle().value(), 40.0);
    EXPECT_EQ(a->attributed_uj() + a->idle_uj, a->measured_uj);
}

TEST(Attribution, IdleNeverExceedsWhatWasMeasured) {
    const std::vector<double> weights = {1.0};
    const auto a = attribute_energy({core::Joules(10), core::Seconds(1), core::Watts(50)}, weights);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->idle_uj, 10'000'000);
    EXPECT_EQ(a->consumer_uj[0], 0);
}

TEST(Attribution, NothingRanMeansItWasAllIdle) {
    const std::vector<double> zero = {0.0, 0.0};
    const auto a = attribute_energy({core::Joules(10), core::Seconds(1), core::Watts(2)}, zero);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->idle_uj, 10'000'000);
    EXPECT_EQ(a->consumer_uj, (std::vector<std::int64_t>{0, 0}));
    const auto none = attribute_energy({core::Joules(10), core::Seconds(1), core::Watts(2)}, {});
    ASSERT_TRUE(none);
    EXPECT_EQ(none->idle_uj, 10'000'000);
}

TEST(Attribution, ThirdsStillAddUpExactly) {
    const std::vector<double> weights = {1.0, 1.0, 1.0};
    const auto a = attribute_energy({core::Joules(1e-6 * 100), core::Seconds(0), core::Watts(0)}, weights);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->attributed_uj(), 100);
    for (const auto uj : a->consumer_uj) EXPECT_TRUE(uj == 33 || uj == 34);
}

TEST(Attribution, RejectsNonsenseNamingIt) {
    const std::vector<double> ok = {1.0};
    EXPECT_FALSE(attribute_energy({core::Joules(-1), core::Seconds(1), core::Watts(0)}, ok));
    EXPECT_FALSE(attribute_energy({core::Joules(std::nan("")), core::Seconds(1), core::Watts(0)}, ok));
    EXPECT_FALSE(attribute_energy({core::Joules(1e13), core::Seconds(1), core::Watts(0)}, ok));
    EXPECT_FALSE(attribute_energy({core::Joules(1), core::Seconds(-1), core::Watts(0)}, ok));
    EXPECT_FALSE(attribute_energy({core::Joules(1), core::Seconds(1), core::Watts(-3)}, ok));
    const std::vector<double> bad = {1.0, -0.5};
    const auto r = attribute_energy({core::Joules(1), core::Seconds(1), core::Watts(0)}, bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("consumer 1"), std::string::npos);
    const std::vector<double> inf = {std::numeric_limits<double>::infinity()};
    EXPECT_FALSE(attribute_energy({core::Joules(1), core::Seconds(1), core::Watts(0)}, inf));
}

// Conservation for any interval and any shares: idle + attributed == measured to the microjoule, no
// part negative, and every consumer within 1 uJ of its exact proportional share.
TEST(Attribution, ConservesEnergyExactlyForAnyShares) {
    const bool ok = rc::check("idle + sum(consumers) == measured", [] {
        const double measured_j = *rc::gen::inRange(0, 10'000'000) / 7.0 + *rc::gen::inRange(0, 1000) * 1e-6;
        const double duration_s = *rc::gen::inRange(0, 3600) / 3.0;
        const double idle_w = *rc::gen::inRange(0, 500) / 1.7;
        const auto raw = *rc::gen::container<std::vector<int>>(
            rc::gen::oneOf(rc::gen::just(0), rc::gen::inRange(0, 1'000'000)));
        std::vector<double> weights;
        for (const int w : raw) weights.push_back(w / 13.0);
        const auto a = attribute_energy(
            {core::Joules(measured_j), core::Seconds(duration_s), core::Watts(idle_w)}, weights);
        RC_ASSERT(a.has_value());
        RC_ASSERT(a->consumer_uj.size() == weights.size());
        RC_ASSERT(a->idle_uj + a->attributed_uj() == a->measured_uj);
        RC_ASSERT(std::llabs(a->measured_uj - std::llround(measured_j * 1e6)) == 0);
        RC_ASSERT(a->idle_uj >= 0);
        const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
        const auto active = static_cast<double>(a->measured_uj - a->idle_uj);
        for (std::size_t i = 0; i < weights.size(); ++i) {
            RC_ASSERT(a->consumer_uj[i] >= 0);
            if (total > 0) {
                RC_ASSERT(std::abs(static_cast<double>(a->consumer_uj[i]) - active * weights[i] / total) <=
                          1.0 + 1e-6);
            }
        }
        // In joules, the residual is far inside the 0.1% the product promises.
        if (a->measured_uj > 0) {
            double sum_j = a->idle().value();
            for (std::size_t i = 0; i < weights.size(); ++i) sum_j += a->consumer(i).value();
            RC_ASSERT(std::abs(sum_j - a->measured().value()) <= 1e-9 * a->measured().value() + 1e-12);
        }
    });
    EXPECT_TRUE(ok);
}

TEST(IdlePowerTracker, LearnsALowPercentileOfTheWindow) {
    IdlePowerTracker tracker(100, 0.05, 10);
    for (int i = 0; i < 9; ++i) tracker.add(core::Watts(100));
    EXPECT_FALSE(tracker.idle());  // not enough samples yet
    tracker.add(core::Watts(std::nan("")));
    tracker.add(core::Watts(-5));
    EXPECT_EQ(tracker.size(), 9U);  // missing or negative samples are not readings
    for (int w = 1; w <= 100; ++w) tracker.add(core::Watts(w));  // the window keeps the last 100: 1..100
    EXPECT_DOUBLE_EQ(tracker.idle()->value(), 5.0);
    for (int i = 0; i < 100; ++i) tracker.add(core::Watts(200));  // old low readings leave the window
    EXPECT_DOUBLE_EQ(tracker.idle()->value(), 200.0);
}

}  // namespace
}  // namespace joulepilot::learn
