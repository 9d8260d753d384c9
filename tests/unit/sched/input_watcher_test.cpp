// InputWatcher: which of the files a plan was made from changed (what `schedule run --jobs --sites` re-plans
// on): modified, removed, created; each change named once; a re-watch keeps the stamps of known files.
#include "sched/input_watcher.hpp"

#include <chrono>
#include <fstream>

#include <gtest/gtest.h>

namespace joulepilot::sched {
namespace {

class InputWatcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("joulepilot_input_watcher_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "jobs.json") << "[]";
        std::ofstream(dir / "carbon.csv") << "a,b\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
    // A new mtime without waiting for the file-system clock to move.
    void touch(const std::filesystem::path& path) {
        std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + std::chrono::seconds(2));
    }
    std::filesystem::path dir;
};

TEST_F(InputWatcherTest, NamesTheChangedFileOnce) {
    InputWatcher watcher;
    watcher.watch({dir / "jobs.json", dir / "carbon.csv", dir / "carbon.csv"});
    EXPECT_EQ(watcher.size(), 2U);
    EXPECT_TRUE(watcher.changed().empty());
    touch(dir / "carbon.csv");
    EXPECT_EQ(watcher.changed(), std::vector<std::filesystem::path>{dir / "carbon.csv"});
    EXPECT_TRUE(watcher.changed().empty());
    std::ofstream(dir / "jobs.json") << "[{}]";  // other size
    EXPECT_EQ(watcher.changed(), std::vector<std::filesystem::path>{dir / "jobs.json"});
}

TEST_F(InputWatcherTest, RemovedAndCreatedFilesAreChanges) {
    InputWatcher watcher;
    watcher.watch({dir / "jobs.json", dir / "prices.csv"});
    std::filesystem::remove(dir / "jobs.json");
    std::ofstream(dir / "prices.csv") << "time,usd_per_kwh\n";
    EXPECT_EQ(watcher.changed(), (std::vector<std::filesystem::path>{dir / "jobs.json", dir / "prices.csv"}));
}

TEST_F(InputWatcherTest, ReWatchKeepsTheStampsOfKnownFiles) {
    InputWatcher watcher;
    watcher.watch({dir / "jobs.json", dir / "carbon.csv"});
    touch(dir / "carbon.csv");  // changed while a re-plan was reading the files
    watcher.watch({dir / "jobs.json", dir / "carbon.csv"});
    EXPECT_EQ(watcher.changed(), std::vector<std::filesystem::path>{dir / "carbon.csv"});
}

}  // namespace
}  // namespace joulepilot::sched
