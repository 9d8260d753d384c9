// KubeClient (kube_client.cpp) against the Kubernetes test double: every status path of the scale
// subresource and of Jobs, retries with back-off (checked by the delays asked for, never by waiting),
// conflicts, lost replies, credentials, and transport failures.

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/act/remote/remote_fixture.hpp"
#include "unit/sense/prom/fake_prometheus.hpp"

namespace joulepilot::act::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test::make_client;
using test::SleepRecorder;
using joulepilot::testing::KubeTestDouble;

const WorkloadRef kWeb{WorkloadKind::deployment, "prod", "web"};

nlohmann::json suspended_job(const std::string& name, const std::string& id) {
    return {{"metadata", {{"name", name}, {"labels", {{"joulepilot.io/job-id", id}}}}},
            {"spec",
             {{"suspend", true},
              {"template", {{"spec", {{"restartPolicy", "Never"}, {"containers", nlohmann::json::array()}}}}}}}};
}

TEST(KubeClientScale, ReadsAndWritesReplicas) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto scale = client.get_scale(kWeb);
    ASSERT_TRUE(scale.has_value()) << scale.error().message;
    EXPECT_EQ(scale->replicas, 3);
    EXPECT_FALSE(scale->resource_version.empty());
    const auto written = client.set_replicas(kWeb, 5);
    ASSERT_TRUE(written.has_value()) << written.error().message;
    EXPECT_EQ(written->replicas, 5);
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 5);
    EXPECT_TRUE(sleeps.delays.empty());
    EXPECT_EQ(api.count_requests("PATCH /apis/apps/v1/namespaces/prod/deployments/web/scale"), 1);
}

TEST(KubeClientScale, StatefulSetsUseTheirOwnResource) {
    KubeTestDouble api;
    api.add_workload("statefulsets", "db", "pg", 2);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    ASSERT_TRUE(client.set_replicas({WorkloadKind::statefulset, "db", "pg"}, 1).has_value());
    EXPECT_EQ(api.replicas("statefulsets", "db", "pg"), 1);
}

TEST(KubeClientScale, SameValueIsNotWritten) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    ASSERT_TRUE(client.set_replicas(kWeb, 3).has_value());
    EXPECT_EQ(api.count_requests("PATCH"), 0);
}

TEST(KubeClientScale, NotFoundNamesTheWorkload) {
    KubeTestDouble api;
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto scale = client.get_scale(kWeb);
    ASSERT_FALSE(scale.has_value());
    EXPECT_THAT(scale.error().message,
                AllOf(HasSubstr("deployment prod/web"), HasSubstr("404"), HasSubstr("namespace")));
}

TEST(KubeClientScale, ForbiddenNamesTheRbacGrantNeeded) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.forbid("patch", "deployments/scale");
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto written = client.set_replicas(kWeb, 4);
    ASSERT_FALSE(written.has_value());
    EXPECT_THAT(written.error().message,
                AllOf(HasSubstr("403"), HasSubstr("verb 'patch'"), HasSubstr("resource 'deployments/scale'"),
                      HasSubstr("group 'apps'"), HasSubstr("namespace 'prod'")));
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 3);
    EXPECT_TRUE(sleeps.delays.empty());  // a refusal is not retried
}

TEST(KubeClientScale, StaleResourceVersionIsReadAgainAndRetriedOnce) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.concurrent_writes_before_next_patches(1);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto written = client.set_replicas(kWeb, 6);
    ASSERT_TRUE(written.has_value()) << written.error().message;
    EXPECT_EQ(api.replicas("deployments", "prod", "web"), 6);
    EXPECT_EQ(api.count_requests("PATCH"), 2);
    EXPECT_EQ(api.count_requests("GET"), 2);
}

TEST(KubeClientScale, ConflictTwiceGivesUpAndSaysWhy) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.concurrent_writes_before_next_patches(5);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto written = client.set_replicas(kWeb, 6);
    ASSERT_FALSE(written.has_value());
    EXPECT_THAT(written.error().message, AllOf(HasSubstr("409"), HasSubstr("another writer")));
    EXPECT_EQ(api.count_requests("PATCH"), 2);
}

TEST(KubeClientRetry, TooManyRequestsHonoursRetryAfter) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.fail_next(1, 429, 2);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    ASSERT_TRUE(client.get_scale(kWeb).has_value());
    EXPECT_THAT(sleeps.delays, ElementsAre(milliseconds(2000)));
    EXPECT_EQ(client.requests_sent(), 2U);
}

TEST(KubeClientRetry, UnavailableBacksOffExponentially) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.fail_next(3, 503);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    ASSERT_TRUE(client.get_scale(kWeb).has_value());
    EXPECT_THAT(sleeps.delays, ElementsAre(milliseconds(10), milliseconds(20), milliseconds(40)));
}

TEST(KubeClientRetry, RetryAfterIsCappedByMaxBackoff) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.fail_next(1, 503, 3600);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    ASSERT_TRUE(client.get_scale(kWeb).has_value());
    EXPECT_THAT(sleeps.delays, ElementsAre(milliseconds(5000)));
}

TEST(KubeClientRetry, AttemptsAreBounded) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.set_down(true);
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps, 4);
    const auto scale = client.get_scale(kWeb);
    ASSERT_FALSE(scale.has_value());
    EXPECT_THAT(scale.error().message, AllOf(HasSubstr("4 attempts"), HasSubstr("503"), HasSubstr("prod/web")));
    EXPECT_EQ(sleeps.delays.size(), 3U);
    EXPECT_EQ(api.count_requests("GET"), 4);
}

TEST(KubeClientRetry, NetworkDownIsRetriedThenReported) {
    sense::testing::UnusedPort nothing;
    SleepRecorder sleeps;
    KubeClient client = make_client(nothing.url(), sleeps, 3);
    const auto scale = client.get_scale(kWeb);
    ASSERT_FALSE(scale.has_value());
    EXPECT_THAT(scale.error().message, AllOf(HasSubstr("connection refused"), HasSubstr("3 attempts")));
    EXPECT_EQ(sleeps.delays.size(), 2U);
}

TEST(KubeClientAuth, TokenIsSentAndAWrongOneIsNamed) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.require_token("t0ken");
    SleepRecorder sleeps;
    KubeClient good = make_client(api.url(), sleeps);
    EXPECT_TRUE(good.get_scale(kWeb).has_value());
    auto bad = KubeClient::create(test::credentials_for(api.url(), "wrong"), sleeps.options());
    ASSERT_TRUE(bad.has_value());
    const auto scale = bad->get_scale(kWeb);
    ASSERT_FALSE(scale.has_value());
    EXPECT_THAT(scale.error().message, AllOf(HasSubstr("401"), HasSubstr("credentials")));
}

TEST(KubeClientAuth, TokenFileIsReadForEveryRequest) {
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    api.require_token("first");
    const auto dir = std::filesystem::temp_directory_path() / ("jp-kube-token-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "first\n";
    KubeCredentials credentials = test::credentials_for(api.url(), "");
    credentials.token_file = dir / "token";
    SleepRecorder sleeps;
    auto client = KubeClient::create(credentials, sleeps.options());
    ASSERT_TRUE(client.has_value()) << client.error().message;
    EXPECT_TRUE(client->get_scale(kWeb).has_value());
    api.require_token("second");  // the kubelet rotated the token
    std::ofstream(dir / "token") << "second\n";
    EXPECT_TRUE(client->get_scale(kWeb).has_value());
    std::filesystem::remove_all(dir);
}

TEST(KubeClientTls, PlainHttpOnlyOnLoopback) {
    SleepRecorder sleeps;
    const auto remote = KubeClient::create(test::credentials_for("http://10.1.2.3:6443"), sleeps.options());
    ASSERT_FALSE(remote.has_value());
    EXPECT_THAT(remote.error().message, AllOf(HasSubstr("not an https://"), HasSubstr("loopback")));
    EXPECT_FALSE(KubeClient::create(test::credentials_for("ftp://127.0.0.1"), sleeps.options()).has_value());
    EXPECT_FALSE(is_loopback_url("http://127.0.0.1@evil.example:80"));
    EXPECT_FALSE(is_loopback_url("http://localhost.evil.example"));
    EXPECT_TRUE(is_loopback_url("http://[::1]:8080/x"));
    EXPECT_TRUE(is_loopback_url("http://localhost"));
}

TEST(KubeClientTls, HttpsToAServerWithoutTlsFailsTheHandshake) {
    // The double speaks plain HTTP: an https client must fail in TLS, never fall back to plain text.
    KubeTestDouble api;
    api.add_workload("deployments", "prod", "web", 3);
    SleepRecorder sleeps;
    KubeCredentials credentials = test::credentials_for("https://127.0.0.1:" + api.url().substr(17));
    std::ifstream ca(test::fixtures() / "ca.crt");
    credentials.ca_pem.assign(std::istreambuf_iterator<char>(ca), {});
    KubeClient client = std::move(*KubeClient::create(credentials, sleeps.options(1)));
    const auto scale = client.get_scale(kWeb);
    ASSERT_FALSE(scale.has_value());
    EXPECT_THAT(scale.error().message, HasSubstr("https://127.0.0.1"));
    EXPECT_EQ(api.count_requests("GET"), 0);
}

TEST(KubeClientJobs, CreateGetListAndSuspend) {
    KubeTestDouble api;
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto created = client.create_job("batch", suspended_job("jp-train-a", "train-a"));
    ASSERT_TRUE(created.has_value()) << created.error().message;
    EXPECT_FALSE(created->already_existed);
    EXPECT_TRUE(created->job.suspended);
    EXPECT_EQ(created->job.labels.at("joulepilot.io/job-id"), "train-a");
    EXPECT_EQ(api.job("batch", "jp-train-a")->at("kind"), "Job");

    ASSERT_TRUE(client.create_job("batch", suspended_job("jp-other", "other")).has_value());
    const auto listed = client.list_jobs("batch", "joulepilot.io/job-id=train-a");
    ASSERT_TRUE(listed.has_value()) << listed.error().message;
    ASSERT_EQ(listed->size(), 1U);
    EXPECT_EQ(listed->front().name, "jp-train-a");
    EXPECT_EQ(client.list_jobs("batch", "joulepilot.io/job-id")->size(), 2U);

    const auto got = client.get_job("batch", "jp-train-a");
    ASSERT_TRUE(got.has_value() && got->has_value());
    const auto released = client.set_job_suspended("batch", "jp-train-a", false, (*got)->resource_version);
    ASSERT_TRUE(released.has_value()) << released.error().message;
    EXPECT_FALSE(released->suspended);
    EXPECT_EQ(api.releases("batch", "jp-train-a"), 1);
    EXPECT_FALSE(client.get_job("batch", "absent")->has_value());
}

TEST(KubeClientJobs, CreatingAnExistingJobReturnsIt) {
    KubeTestDouble api;
    api.add_job("batch", suspended_job("jp-a", "a"));
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto created = client.create_job("batch", suspended_job("jp-a", "a"));
    ASSERT_TRUE(created.has_value()) << created.error().message;
    EXPECT_TRUE(created->already_existed);
    EXPECT_EQ(created->job.name, "jp-a");
    EXPECT_EQ(api.job_count(), 1U);
}

TEST(KubeClientJobs, InvalidNamesAreRefusedBeforeSending) {
    KubeTestDouble api;
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto created = client.create_job("batch", suspended_job("Train_A", "a"));
    ASSERT_FALSE(created.has_value());
    EXPECT_THAT(created.error().message, AllOf(HasSubstr("Train_A"), HasSubstr("lower-case")));
    EXPECT_EQ(api.count_requests("POST"), 0);
    EXPECT_TRUE(invalid_label_value("train-a.1").has_value() == false);
    EXPECT_TRUE(invalid_label_value("-a").has_value());
    EXPECT_TRUE(invalid_label_value(std::string(64, 'a')).has_value());
}

TEST(KubeClientJobs, StaleSuspendPatchRereadsAndRetries) {
    KubeTestDouble api;
    api.add_job("batch", suspended_job("jp-a", "a"));
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const std::string version = (*client.get_job("batch", "jp-a"))->resource_version;
    api.touch_job("batch", "jp-a");  // someone else wrote: `version` is stale now
    const auto released = client.set_job_suspended("batch", "jp-a", false, version);
    ASSERT_TRUE(released.has_value()) << released.error().message;
    EXPECT_FALSE(released->suspended);
    EXPECT_EQ(api.count_requests("PATCH"), 2);
    EXPECT_EQ(api.releases("batch", "jp-a"), 1);
}

TEST(KubeClientJobs, LostReplyOfARelease_ReleasesExactlyOnce) {
    // The server unsuspends the Job but the reply is lost (503): the client retries with the same
    // resourceVersion, gets 409, reads the Job, sees it released and stops.
    KubeTestDouble api;
    api.add_job("batch", suspended_job("jp-a", "a"));
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const std::string version = (*client.get_job("batch", "jp-a"))->resource_version;
    api.lose_next_replies(1);
    const auto released = client.set_job_suspended("batch", "jp-a", false, version);
    ASSERT_TRUE(released.has_value()) << released.error().message;
    EXPECT_FALSE(released->suspended);
    EXPECT_EQ(api.releases("batch", "jp-a"), 1);
    EXPECT_EQ(sleeps.delays.size(), 1U);
}

TEST(KubeClientJobs, ForbiddenCreateNamesTheGrant) {
    KubeTestDouble api;
    api.forbid("create", "jobs");
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto created = client.create_job("batch", suspended_job("jp-a", "a"));
    ASSERT_FALSE(created.has_value());
    EXPECT_THAT(created.error().message,
                AllOf(HasSubstr("verb 'create'"), HasSubstr("resource 'jobs'"), HasSubstr("group 'batch'")));
}

TEST(KubeClientJobs, PatchOfAMissingJobIsNotFound) {
    KubeTestDouble api;
    SleepRecorder sleeps;
    KubeClient client = make_client(api.url(), sleeps);
    const auto patched = client.set_job_suspended("batch", "ghost", false);
    ASSERT_FALSE(patched.has_value());
    EXPECT_THAT(patched.error().message, AllOf(HasSubstr("job batch/ghost"), HasSubstr("404")));
}

TEST(KubeJobParse, ReadsConditionsAndCounts) {
    const auto job = parse_job(nlohmann::json::parse(R"({"metadata":{"name":"a","namespace":"n"},
        "spec":{"suspend":false},"status":{"active":0,"succeeded":1,
        "conditions":[{"type":"Complete","status":"True"}]}})"));
    ASSERT_TRUE(job.has_value());
    EXPECT_TRUE(job->finished);
    EXPECT_EQ(job->succeeded, 1);
    EXPECT_FALSE(parse_job(nlohmann::json::parse(R"({"spec":{}})")).has_value());
}

TEST(RetryAfter, DeltaSecondsOnly) {
    EXPECT_EQ(parse_retry_after(" 3\r\n"), milliseconds(3000));
    EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
    EXPECT_FALSE(parse_retry_after("-1").has_value());
}

}  // namespace
}  // namespace joulepilot::act::kube
