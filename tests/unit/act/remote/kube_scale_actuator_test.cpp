// KubeScaleActuator (kube_scale_actuator.cpp) against the Kubernetes test double: knobs and domains,
// save/apply/restore, refusals, and a property: any sequence of applies followed by restore returns the
// replicas found by save.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "act/kube/kube_scale_actuator.hpp"
#include "act/shield/safety_shield.hpp"
#include "unit/act/remote/remote_fixture.hpp"

namespace joulepilot::act::kube {
namespace {

using joulepilot::testing::KubeTestDouble;
using test::make_client;
using test::SleepRecorder;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<ScaleTarget> targets() {
    return {ScaleTarget{{WorkloadKind::deployment, "prod", "web"}, 1, 8},
            ScaleTarget{{WorkloadKind::statefulset, "prod", "cache"}, 0, 3}};
}

TEST(KubeScaleActuator, DiscoversKnobsWithConfiguredDomains) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    api.add_workload("statefulsets", "prod", "cache", 2);
    SleepRecorder sleeps;
    auto actuator = KubeScaleActuator::create(make_client(api.url(), sleeps), targets());
    ASSERT_TRUE(actuator.has_value()) << actuator.error().message;
    const auto knobs = (*actuator)->discover();
    ASSERT_EQ(knobs.size(), 2U);
    EXPECT_EQ(knobs[0].name, "deployment.prod/web.replicas");
    EXPECT_EQ(knobs[1].name, "statefulset.prod/cache.replicas");
    EXPECT_EQ(knobs[0].domain.min, 1);
    EXPECT_EQ(knobs[0].domain.max, 8);
    EXPECT_EQ(knobs[0].domain.step, 1);
    EXPECT_EQ(knobs[0].current, 4);
    EXPECT_EQ((*actuator)->current(), (std::vector<double>{4, 2}));
}

TEST(KubeScaleActuator, SaveApplyRestore) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    api.add_workload("statefulsets", "prod", "cache", 2);
    SleepRecorder sleeps;
    auto actuator = std::move(*KubeScaleActuator::create(make_client(api.url(), sleeps), targets()));
    ASSERT_TRUE(actuator->save().has_value());
    const std::vector<KnobSetting> settings{{"deployment.prod/web.replicas", 2}, {"statefulset.prod/cache.replicas", 3}};
    ASSERT_TRUE(actuator->apply(settings).has_value());
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 2);
    EXPECT_EQ(api.replicas("statefulsets", "prod", "cache"), 3);
    EXPECT_EQ(actuator->current(), (std::vector<double>{2, 3}));
    ASSERT_TRUE(actuator->restore().has_value());
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 4);
    EXPECT_EQ(api.replicas("statefulsets", "prod", "cache"), 2);
}

TEST(KubeScaleActuator, RefusesUnknownKnobsAndOutOfRangeValues) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    api.add_workload("statefulsets", "prod", "cache", 2);
    SleepRecorder sleeps;
    auto actuator = std::move(*KubeScaleActuator::create(make_client(api.url(), sleeps), targets()));
    const std::vector<KnobSetting> unknown{{"deployment.prod/api.replicas", 2}};
    EXPECT_THAT(actuator->apply(unknown).error().message, HasSubstr("unknown knob 'deployment.prod/api.replicas'"));
    const std::vector<KnobSetting> too_many{{"deployment.prod/web.replicas", 9}};
    EXPECT_THAT(actuator->apply(too_many).error().message, AllOf(HasSubstr("9"), HasSubstr("[1, 8]")));
    EXPECT_EQ(api.count_requests("PATCH"), 0);
}

TEST(KubeScaleActuator, MissingWorkloadFailsAtCreate) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    SleepRecorder sleeps;
    auto actuator = KubeScaleActuator::create(make_client(api.url(), sleeps), targets());
    ASSERT_FALSE(actuator.has_value());
    EXPECT_THAT(actuator.error().message, AllOf(HasSubstr("statefulset prod/cache"), HasSubstr("404")));
}

TEST(KubeScaleActuator, ForbiddenWriteIsReportedAndNothingChanges) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    api.add_workload("statefulsets", "prod", "cache", 2);
    api.forbid("patch", "deployments/scale");
    SleepRecorder sleeps;
    auto actuator = std::move(*KubeScaleActuator::create(make_client(api.url(), sleeps), targets()));
    const std::vector<KnobSetting> settings{{"deployment.prod/web.replicas", 2}};
    const auto applied = actuator->apply(settings);
    ASSERT_FALSE(applied.has_value());
    EXPECT_THAT(applied.error().message, HasSubstr("verb 'patch' on resource 'deployments/scale'"));
    EXPECT_EQ(actuator->current()[0], 4);
}

TEST(KubeScaleActuator, EmptyRangeIsRefused) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 4);
    SleepRecorder sleeps;
    const auto actuator = KubeScaleActuator::create(make_client(api.url(), sleeps),
                                                    {ScaleTarget{{WorkloadKind::deployment, "prod", "web"}, 5, 2}});
    ASSERT_FALSE(actuator.has_value());
    EXPECT_THAT(actuator.error().message, HasSubstr("[5, 2]"));
}

// After a crash the actuator is made while the replicas are still the crashed run's (its knobs' defaults are
// what it finds): once the shield's recovery puts the original back, the original is the default again, so
// a policy returning knobs to their defaults (`static`) does not scale the Deployment back down.
TEST(KubeScaleActuator, AfterCrashRecoveryTheOriginalReplicasAreTheDefaultAgain) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 2);  // the crashed run scaled it from 4 to 2
    api.add_workload("statefulsets", "prod", "cache", 1);
    const auto file = std::filesystem::temp_directory_path() / ("jp-kube-recover-" + std::to_string(::getpid()));
    ASSERT_TRUE(SavedSettingsFile(file).store({{"kube-scale", "deployment.prod/web.replicas", 4}}));
    SleepRecorder sleeps;
    auto actuator = std::move(*KubeScaleActuator::create(make_client(api.url(), sleeps), targets()));
    ASSERT_EQ(actuator->discover()[0].default_value, 2);
    ShieldSettings settings;
    settings.mode = ShieldMode::act;
    settings.allow_unlisted = true;
    settings.state_file = file;
    {
        SafetyShield shield({actuator.get()}, settings);
        const auto recovered = shield.recover();
        ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
        EXPECT_EQ(api.replicas("deployments", "prod", "web"), 4);
        const Knob* web = shield.knob_space().get("deployment.prod/web.replicas");
        ASSERT_NE(web, nullptr);
        EXPECT_EQ(web->default_value, 4);
        EXPECT_EQ(web->current, 4);
        EXPECT_EQ(shield.knob_space().get("statefulset.prod/cache.replicas")->default_value, 1);
    }
    // Nothing was left to restore: the shield's end wrote nothing more.
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 4);
    EXPECT_FALSE(std::filesystem::exists(file));
}

RC_GTEST_PROP(KubeScaleActuatorProperty, RestoreReturnsTheSavedReplicas, ()) {
    KubeTestDouble api;
    const int web = *rc::gen::inRange(1, 9);
    const int cache = *rc::gen::inRange(0, 4);
    api.add_workload("deployments", "prod", "web", web);
    api.add_workload("statefulsets", "prod", "cache", cache);
    SleepRecorder sleeps;
    auto actuator = std::move(*KubeScaleActuator::create(make_client(api.url(), sleeps), targets()));
    RC_ASSERT(actuator->save().has_value());
    const auto steps = *rc::gen::container<std::vector<std::pair<int, int>>>(
        rc::gen::pair(rc::gen::inRange(1, 9), rc::gen::inRange(0, 4)));
    for (const auto& [w, c] : steps) {
        const std::vector<KnobSetting> settings{{"deployment.prod/web.replicas", static_cast<double>(w)},
                                                {"statefulset.prod/cache.replicas", static_cast<double>(c)}};
        RC_ASSERT(actuator->apply(settings).has_value());
        RC_ASSERT(api.replicas("deployments", "prod", "web") == w);
    }
    RC_ASSERT(actuator->restore().has_value());
    RC_ASSERT(api.replicas("deployments", "prod", "web") == web);
    RC_ASSERT(api.replicas("statefulsets", "prod", "cache") == cache);
}

}  // namespace
}  // namespace joulepilot::act::kube
