// YAML job files (job.cpp, yaml_json.cpp): the same jobs as the JSON reader, the same field errors, and
// syntax errors named with their line.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/job.hpp"
#include "sched/yaml_json.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::fixtures_dir;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(JobYaml, ReadsTheSameJobsAsJson) {
    const auto yaml = read_jobs(fixtures_dir() / "jobs_ok.yaml");
    const auto json = read_jobs(fixtures_dir() / "jobs_ok.json");
    ASSERT_TRUE(yaml.has_value()) << yaml.error().message;
    ASSERT_TRUE(json.has_value());
    ASSERT_EQ(yaml->size(), json->size());
    for (std::size_t i = 0; i < yaml->size(); ++i) {
        const Job& a = (*yaml)[i];
        const Job& b = (*json)[i];
        EXPECT_EQ(a.id, b.id);
        EXPECT_EQ(a.gpus, b.gpus);
        EXPECT_DOUBLE_EQ(a.duration.value(), b.duration.value());
        EXPECT_DOUBLE_EQ(a.power.value(), b.power.value());
        EXPECT_EQ(a.earliest_start_unix_s, b.earliest_start_unix_s);
        EXPECT_EQ(a.deadline_unix_s, b.deadline_unix_s);
        EXPECT_EQ(a.due_unix_s, b.due_unix_s);
        EXPECT_EQ(a.interruptible, b.interruptible);
        EXPECT_DOUBLE_EQ(a.checkpoint_overhead.value(), b.checkpoint_overhead.value());
        EXPECT_EQ(a.sites, b.sites);
    }
}

TEST(JobYaml, FieldErrorsNameTheJobAndField) {
    const auto jobs = read_jobs(fixtures_dir() / "jobs_bad_number.yaml");
    ASSERT_FALSE(jobs.has_value());
    EXPECT_THAT(jobs.error().message,
                AllOf(HasSubstr("jobs_bad_number.yaml: [0] (id 'a')"), HasSubstr("'gpus'"), HasSubstr("not a number")));
}

TEST(JobYaml, SyntaxErrorsNameTheLine) {
    const auto jobs = read_jobs(fixtures_dir() / "jobs_syntax.yaml");
    ASSERT_FALSE(jobs.has_value());
    EXPECT_THAT(jobs.error().message, AllOf(HasSubstr("jobs_syntax.yaml:"), HasSubstr("not valid YAML")));
}

TEST(YamlJson, TypesPlainScalarsAndKeepsQuotedOnesAsStrings) {
    const auto doc = parse_yaml_as_json("a: 1\nb: '1'\nc: true\nd: ~\ne: 2.5\nf: [x, \"y\"]\ng: 2023-06-01T00:00Z\n", "t");
    ASSERT_TRUE(doc.has_value()) << doc.error().message;
    EXPECT_EQ((*doc)["a"], 1);
    EXPECT_EQ((*doc)["b"], "1");
    EXPECT_EQ((*doc)["c"], true);
    EXPECT_TRUE((*doc)["d"].is_null());
    EXPECT_DOUBLE_EQ((*doc)["e"].get<double>(), 2.5);
    EXPECT_EQ((*doc)["f"], nlohmann::json({"x", "y"}));
    EXPECT_EQ((*doc)["g"], "2023-06-01T00:00Z");
}

}  // namespace
}  // namespace joulepilot::sched
