#include "learn/observation_window.hpp"

#include <gtest/gtest.h>

namespace joulepilot::learn {
namespace {

std::shared_ptr<sense::SignalCatalog> catalog() {
    auto c = std::make_shared<sense::SignalCatalog>();
    c->add({"x", "W", sense::Provenance::measured, ""});
    return c;
}

sense::Observation obs(const std::shared_ptr<sense::SignalCatalog>& c, std::optional<double> x) {
    sense::Observation o(c);
    if (x) o.samples()[0] = {*x, true};
    return o;
}

TEST(ObservationWindow, KeepsTheLastNAndSkipsMissingSamples) {
    auto c = catalog();
    ObservationWindow w(3);
    w.push(obs(c, 100));
    w.push(obs(c, 1));
    w.push(obs(c, std::nullopt));
    w.push(obs(c, 3));
    EXPECT_EQ(w.size(), 3u);
    EXPECT_EQ(w.mean("x", 3), 2.0);  // 1 and 3; the missing one is skipped, 100 fell out
    EXPECT_EQ(w.max("x", 3), 3.0);
    EXPECT_EQ(w.latest("x"), 3.0);
    EXPECT_FALSE(w.mean("unknown", 3));
}

TEST(ObservationWindow, AllBelowNeedsEveryRecentSampleValidAndBelow) {
    auto c = catalog();
    ObservationWindow w(10);
    w.push(obs(c, 0.01));
    w.push(obs(c, 0.02));
    EXPECT_FALSE(w.all_below("x", 3, 0.1));  // only two samples
    w.push(obs(c, 0.03));
    EXPECT_TRUE(w.all_below("x", 3, 0.1));
    w.push(obs(c, std::nullopt));
    EXPECT_FALSE(w.all_below("x", 3, 0.1));  // missing is not "idle"
}

}  // namespace
}  // namespace joulepilot::learn
