// Job state stores (job_state_store.cpp): round trips in memory and through the JSON file (atomic
// replacement, no temp file left), a corrupt file reported and left alone.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/job_state_store.hpp"

namespace joulepilot::sched {
namespace {

using ::testing::HasSubstr;

JobState sample(const std::string& id, int releases) {
    JobState s;
    s.id = id;
    s.ns = "batch";
    s.kube_name = "jp-" + id;
    s.created = true;
    s.adopted = id == "b";
    s.releases = releases;
    s.pauses = 0;
    s.created_unix_s = 1685577600;
    if (releases > 0) s.released_unix_s = 1685581200.5;
    s.attempts = 2;
    s.status = releases > 0 ? "released" : "created";
    s.message = "msg \"quoted\"";
    return s;
}

struct TempDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("jp-state-" + std::to_string(::getpid()) + "-" +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    TempDir() { std::filesystem::create_directories(path); }
    ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(InMemoryJobStateStore, SaveReplacesById) {
    InMemoryJobStateStore store;
    ASSERT_TRUE(store.save(sample("a", 0)).has_value());
    ASSERT_TRUE(store.save(sample("a", 1)).has_value());
    const auto states = store.load();
    ASSERT_EQ(states->size(), 1U);
    EXPECT_EQ(states->front().releases, 1);
}

TEST(JsonFileJobStateStore, RoundTripsThroughTheFile) {
    TempDir dir;
    const auto path = dir.path / "state.json";
    {
        JsonFileJobStateStore store(path);
        EXPECT_TRUE(store.load()->empty());  // a missing file is an empty store
        ASSERT_TRUE(store.save(sample("a", 1)).has_value());
        ASSERT_TRUE(store.save(sample("b", 0)).has_value());
        ASSERT_TRUE(store.save(sample("a", 2)).has_value());
    }
    JsonFileJobStateStore reopened(path);
    const auto states = reopened.load();
    ASSERT_TRUE(states.has_value()) << states.error().message;
    ASSERT_EQ(states->size(), 2U);
    EXPECT_EQ((*states)[0], sample("a", 2));
    EXPECT_EQ((*states)[1], sample("b", 0));
    // Only the state file is left: the temp file was renamed over it.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()), 1);
}

TEST(JsonFileJobStateStore, CorruptFileIsReportedAndLeftAlone) {
    TempDir dir;
    const auto path = dir.path / "state.json";
    std::ofstream(path) << "{\"jobs\": 3}";
    JsonFileJobStateStore store(path);
    const auto loaded = store.load();
    ASSERT_FALSE(loaded.has_value());
    EXPECT_THAT(loaded.error().message, HasSubstr("state.json"));
    EXPECT_THAT(loaded.error().message, HasSubstr("corrupt"));
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "{\"jobs\": 3}");
    EXPECT_FALSE(store.save(sample("a", 0)).has_value());  // never overwrites what it could not read
}

TEST(JsonFileJobStateStore, UnwritableFolderIsAnError) {
    JsonFileJobStateStore store("/proc/jp-cannot-write-here/state.json");
    const auto saved = store.save(sample("a", 0));
    ASSERT_FALSE(saved.has_value());
    EXPECT_THAT(saved.error().message, HasSubstr("cannot write"));
}

}  // namespace
}  // namespace joulepilot::sched
