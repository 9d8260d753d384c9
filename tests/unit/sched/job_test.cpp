// Job readers (job.cpp): JSON and CSV, the two-of-three rule for duration/energy/power, and malformed
// input named by file, line and field.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/job.hpp"
#include "unit/sched/sched_fixture.hpp"

namespace joulepilot::sched {
namespace {

using test::fixtures_dir;
using test::kJune1;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string error_of(const core::Result<std::vector<Job>>& result) {
    EXPECT_FALSE(result.has_value());
    return result ? std::string() : result.error().message;
}

TEST(JobReader, ReadsJson) {
    const auto jobs = read_jobs(fixtures_dir() / "jobs_ok.json");
    ASSERT_TRUE(jobs.has_value()) << jobs.error().message;
    ASSERT_EQ(jobs->size(), 3U);
    const Job& a = (*jobs)[0];
    EXPECT_EQ(a.id, "train-a");
    EXPECT_EQ(a.gpus, 8);
    EXPECT_DOUBLE_EQ(a.duration.value(), 6 * 3600);
    EXPECT_DOUBLE_EQ(a.power.value(), 5600);
    EXPECT_DOUBLE_EQ(*a.earliest_start_unix_s, kJune1);
    EXPECT_DOUBLE_EQ(*a.deadline_unix_s, kJune1 + 86400);
    EXPECT_EQ(a.sites, (std::vector<std::string>{"frankfurt", "london"}));
    EXPECT_FALSE(a.interruptible);
    const Job& b = (*jobs)[1];
    EXPECT_DOUBLE_EQ(b.duration.value(), 5 * 3600);  // 10 kWh at 2 kW
    EXPECT_TRUE(b.interruptible);
    EXPECT_DOUBLE_EQ(b.checkpoint_overhead.value(), 300);
    EXPECT_DOUBLE_EQ(b.slack->value(), 12 * 3600);
    EXPECT_FALSE(b.deadline_unix_s.has_value());
    const Job& c = (*jobs)[2];
    EXPECT_DOUBLE_EQ(c.power.value(), 600);  // 0.9 kWh over 1.5 h
    EXPECT_DOUBLE_EQ(*c.earliest_start_unix_s, kJune1);
    EXPECT_DOUBLE_EQ(*c.due_unix_s, kJune1 + 6 * 3600);
    EXPECT_NEAR(c.energy().value(), 0.9 * 3.6e6, 1e-6);
}

TEST(JobReader, ReadsCsv) {
    const auto jobs = read_jobs(fixtures_dir() / "jobs_ok.csv");
    ASSERT_TRUE(jobs.has_value()) << jobs.error().message;
    ASSERT_EQ(jobs->size(), 2U);
    EXPECT_EQ((*jobs)[0].sites, (std::vector<std::string>{"frankfurt", "london"}));
    EXPECT_EQ((*jobs)[1].id, "finetune-b");
    EXPECT_TRUE((*jobs)[1].interruptible);
    EXPECT_TRUE((*jobs)[1].sites.empty());
    EXPECT_DOUBLE_EQ(*(*jobs)[1].deadline_unix_s, kJune1 + 19 * 3600);
}

TEST(JobReader, CsvBadNumberNamesFileLineAndColumn) {
    EXPECT_THAT(error_of(read_jobs(fixtures_dir() / "jobs_bad_number.csv")),
                AllOf(HasSubstr("jobs_bad_number.csv:3"), HasSubstr("'gpus'"), HasSubstr("'two'")));
}

TEST(JobReader, CsvUnknownColumn) {
    EXPECT_THAT(error_of(read_jobs(fixtures_dir() / "jobs_unknown_column.csv")),
                AllOf(HasSubstr("jobs_unknown_column.csv:1"), HasSubstr("unknown column 'colour'")));
}

TEST(JobReader, JsonNeedsTwoOfDurationEnergyPower) {
    EXPECT_THAT(
        error_of(read_jobs(fixtures_dir() / "jobs_missing_power.json")),
        AllOf(HasSubstr("jobs_missing_power.json: [0] (id 'a')"), HasSubstr("exactly two of duration_h")));
}

TEST(JobReader, JsonSyntaxError) {
    EXPECT_THAT(error_of(read_jobs(fixtures_dir() / "jobs_syntax.json")),
                AllOf(HasSubstr("jobs_syntax.json"), HasSubstr("not valid JSON"), HasSubstr("line 1")));
}

TEST(JobReader, YamlErrorsNameIndexIdAndField) {
    EXPECT_THAT(error_of(read_jobs(fixtures_dir() / "jobs.yaml")),
                AllOf(HasSubstr("jobs.yaml: jobs[0] (id 'a')"), HasSubstr("field 'gpus'")));
}

TEST(JobReader, MissingFile) {
    EXPECT_THAT(error_of(read_jobs(fixtures_dir() / "nope.json")), HasSubstr("nope.json: cannot open"));
}

struct BadJob {
    const char* json;
    const char* expected;
};

class JobFieldErrors : public ::testing::TestWithParam<BadJob> {};

TEST_P(JobFieldErrors, NameTheField) {
    EXPECT_THAT(error_of(parse_jobs_json(GetParam().json, "q.json")),
                AllOf(HasSubstr("q.json: [0]"), HasSubstr(GetParam().expected)));
}

INSTANTIATE_TEST_SUITE_P(
    Sched, JobFieldErrors,
    ::testing::Values(
        BadJob{R"([{"gpus": 1, "duration_h": 1, "power_w": 1, "slack_h": 1}])", "field 'id'"},
        BadJob{R"([{"id": "a", "gpus": 0, "duration_h": 1, "power_w": 1, "slack_h": 1}])", "field 'gpus'"},
        BadJob{R"([{"id": "a", "gpus": 1.5, "duration_h": 1, "power_w": 1, "slack_h": 1}])", "field 'gpus'"},
        BadJob{R"([{"id": "a", "gpus": 1, "duration_h": -1, "power_w": 1, "slack_h": 1}])",
               "field 'duration_h'"},
        BadJob{R"([{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1}])",
               "exactly one of deadline and slack_h"},
        BadJob{R"([{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "deadline": "June"}])",
               "field 'deadline'"},
        BadJob{R"([{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "slack_h": 1, "colour": 2}])",
               "field 'colour': unknown field"},
        BadJob{R"([{"id":"a","gpus":1,"duration_h":1,"power_w":1,"slack_h":1,"checkpoint_overhead_s":5}])",
               "not interruptible"},
        BadJob{R"([{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "slack_h": 1, "sites": "x"}])",
               "field 'sites'"},
        BadJob{
            R"([{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "earliest_start": "2023-06-02T00:00Z",
                    "deadline": "2023-06-01T00:00Z"}])",
            "not after earliest_start"}));

TEST(JobReader, DuplicateIds) {
    const char* text = R"({"jobs": [{"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "slack_h": 1},
                                     {"id": "a", "gpus": 1, "duration_h": 1, "power_w": 1, "slack_h": 1}]})";
    EXPECT_THAT(error_of(parse_jobs_json(text, "q.json")),
                AllOf(HasSubstr("jobs[1]"), HasSubstr("earlier job")));
}

}  // namespace
}  // namespace joulepilot::sched
