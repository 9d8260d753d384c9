#include "core/rooted_fs.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

namespace fs = std::filesystem;

class RootedFsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "joulepilot-rootedfs-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        m_root = pattern;
        write("sys/class/powercap/intel-rapl:0/energy_uj", "  12345\n");
        write("sys/class/powercap/intel-rapl:0/name", "package-0\n");
        write("sys/class/powercap/intel-rapl:0:0/energy_uj", "777\n");
        write("sys/class/powercap/intel-rapl:0:0/name", "core\n");
        write("garbage", "12abc\n");
        write("negative", "-1500\n");
        write("empty", "");
        write("huge", "99999999999999999999999\n");
    }
    void TearDown() override { fs::remove_all(m_root); }

    void write(const std::string& relative, const std::string& content) const {
        fs::create_directories((m_root / relative).parent_path());
        std::ofstream(m_root / relative) << content;
    }

    fs::path m_root;
};

TEST_F(RootedFsTest, ReadsBelowTheRootWhateverTheLeadingSlash) {
    const RootedFs rfs(m_root);
    EXPECT_EQ(rfs.read("sys/class/powercap/intel-rapl:0/name").value(), "package-0\n");
    EXPECT_EQ(rfs.read("/sys/class/powercap/intel-rapl:0/name").value(), "package-0\n");
    EXPECT_EQ(rfs.read_line("sys/class/powercap/intel-rapl:0/name").value(), "package-0");
    EXPECT_EQ(rfs.read_u64("sys/class/powercap/intel-rapl:0/energy_uj").value(), 12345U);
    EXPECT_EQ(rfs.read_i64("negative").value(), -1500);
    EXPECT_EQ(rfs.full_path("/sys/x"), (m_root / "sys/x").string());
    EXPECT_EQ(rfs.full_path(""), m_root.string());
}

TEST_F(RootedFsTest, AbsentFilesAreNotFoundAndNameTheFullPath) {
    const RootedFs rfs(m_root);
    const auto missing = rfs.read("sys/class/powercap/intel-rapl:9/energy_uj");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, FileErrorKind::not_found);
    EXPECT_EQ(missing.error().path, (m_root / "sys/class/powercap/intel-rapl:9/energy_uj").string());
    EXPECT_NE(missing.error().message.find(missing.error().path), std::string::npos);
    EXPECT_NE(missing.error().message.find("not present"), std::string::npos);
    // A file where a directory is expected (ENOTDIR) is also "not present".
    const auto not_dir = rfs.read("garbage/energy_uj");
    ASSERT_FALSE(not_dir);
    EXPECT_EQ(not_dir.error().kind, FileErrorKind::not_found);
    // Reading a directory is some other error, not "absent".
    const auto dir = rfs.read("sys");
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().kind, FileErrorKind::other);
}

TEST_F(RootedFsTest, SimulatedPermissionDeniedCoversTheFileOrTheDirectoryBelowOnly) {
    RootedFs rfs(m_root);
    rfs.simulate_error("/sys/class/powercap/intel-rapl:0/");
    const auto denied = rfs.read_u64("sys/class/powercap/intel-rapl:0/energy_uj");
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().kind, FileErrorKind::permission_denied);
    EXPECT_NE(denied.error().message.find("permission denied"), std::string::npos);
    EXPECT_NE(denied.error().message.find("intel-rapl:0/energy_uj"), std::string::npos);
    EXPECT_FALSE(rfs.list("sys/class/powercap/intel-rapl:0"));
    // The file is still there: only reading it is refused.
    EXPECT_TRUE(rfs.exists("sys/class/powercap/intel-rapl:0/energy_uj"));
    // A sibling whose name merely starts with the same characters is not affected.
    EXPECT_EQ(rfs.read_u64("sys/class/powercap/intel-rapl:0:0/energy_uj").value(), 777U);

    RootedFs other(m_root);
    other.simulate_error("garbage", FileErrorKind::other);
    EXPECT_EQ(other.read("garbage").error().kind, FileErrorKind::other);
    other.simulate_error("negative", FileErrorKind::not_found);
    EXPECT_EQ(other.read("negative").error().kind, FileErrorKind::not_found);
}

TEST_F(RootedFsTest, RealPermissionDeniedIsClassifiedWhenNotRoot) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads mode 000 files; the simulated test covers this path";
    write("secret", "1\n");
    ::chmod((m_root / "secret").c_str(), 0);
    const RootedFs rfs(m_root);
    EXPECT_EQ(rfs.read("secret").error().kind, FileErrorKind::permission_denied);
}

TEST_F(RootedFsTest, IntegersMustBeWholeAndInRange) {
    const RootedFs rfs(m_root);
    const auto garbage = rfs.read_u64("garbage");
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error().kind, FileErrorKind::invalid_content);
    EXPECT_NE(garbage.error().message.find("\"12abc\""), std::string::npos);
    EXPECT_EQ(rfs.read_u64("empty").error().kind, FileErrorKind::invalid_content);
    EXPECT_EQ(rfs.read_u64("negative").error().kind, FileErrorKind::invalid_content);
    EXPECT_EQ(rfs.read_u64("huge").error().kind, FileErrorKind::invalid_content);
    EXPECT_EQ(rfs.read_i64("garbage").error().kind, FileErrorKind::invalid_content);
}

TEST_F(RootedFsTest, ListsSortedWithoutDotEntriesAndReusesStorage) {
    const RootedFs rfs(m_root);
    const auto names = rfs.list("sys/class/powercap");
    ASSERT_TRUE(names);
    EXPECT_EQ(*names, (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0"}));
    std::vector<std::string> reused = {"a", "b", "c", "d"};
    ASSERT_EQ(rfs.list_into("sys/class/powercap/intel-rapl:0", reused).value(), 2U);
    ASSERT_EQ(reused.size(), 2U);
    std::sort(reused.begin(), reused.end());
    EXPECT_EQ(reused, (std::vector<std::string>{"energy_uj", "name"}));
    EXPECT_EQ(rfs.list("nope").error().kind, FileErrorKind::not_found);
    fs::create_directory_symlink("intel-rapl:0", m_root / "sys/class/powercap/link-to-dir");
    fs::create_symlink("intel-rapl:0/name", m_root / "sys/class/powercap/link-to-file");
    write("sys/class/powercap/a-file", "1\n");
    ASSERT_EQ(rfs.list_into("sys/class/powercap", reused, /*directories_only=*/true).value(), 3U);
    std::sort(reused.begin(), reused.end());
    EXPECT_EQ(reused, (std::vector<std::string>{"intel-rapl:0", "intel-rapl:0:0", "link-to-dir"}));
    EXPECT_TRUE(rfs.is_directory("sys/class"));
    EXPECT_FALSE(rfs.is_directory("garbage"));
}

TEST_F(RootedFsTest, ReadIntoStopsAtTheBufferSize) {
    const RootedFs rfs(m_root);
    std::array<char, 4> buffer{};
    EXPECT_EQ(rfs.read_into("sys/class/powercap/intel-rapl:0/name", buffer).value(), 4U);
    EXPECT_EQ(std::string(buffer.data(), 4), "pack");
}

TEST_F(RootedFsTest, AnOpenFileRereadsFromTheStartAndSeesInPlaceRewrites) {
    RootedFs rfs(m_root);
    auto file = rfs.open("sys/class/powercap/intel-rapl:0/energy_uj");
    ASSERT_TRUE(file);
    EXPECT_TRUE(file->is_open());
    EXPECT_EQ(file->path(), (m_root / "sys/class/powercap/intel-rapl:0/energy_uj").string());
    std::array<char, 64> buffer{};
    EXPECT_EQ(std::string(buffer.data(), file->read_from_start(buffer).value()), "  12345\n");
    EXPECT_EQ(std::string(buffer.data(), file->read_from_start(buffer).value()), "  12345\n");
    write("sys/class/powercap/intel-rapl:0/energy_uj", "99\n");  // same inode, as sysfs and procfs
    EXPECT_EQ(std::string(buffer.data(), file->read_from_start(buffer).value()), "99\n");

    OpenFile moved = std::move(*file);
    EXPECT_FALSE(file->is_open());
    EXPECT_TRUE(moved.is_open());
    moved.close();
    EXPECT_FALSE(moved.read_from_start(buffer));

    rfs.simulate_error("garbage");
    const auto denied = rfs.open("garbage");
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().kind, FileErrorKind::permission_denied);
    EXPECT_EQ(rfs.open("absent").error().kind, FileErrorKind::not_found);
}

TEST_F(RootedFsTest, ReadsSymlinkTargets) {
    fs::create_directory_symlink("../../devices/pci0000:00/0000:00:01.0", m_root / "sys/class/powercap/dev");
    const RootedFs rfs(m_root);
    EXPECT_EQ(rfs.read_link("sys/class/powercap/dev").value(), "../../devices/pci0000:00/0000:00:01.0");
    EXPECT_EQ(rfs.read_link("garbage").error().kind, FileErrorKind::other);  // EINVAL: not a link
}

TEST_F(RootedFsTest, AMissingRootFailsEveryCallWithoutThrowing) {
    const RootedFs rfs(m_root / "absent");
    const auto r = rfs.read("anything");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, FileErrorKind::not_found);
    EXPECT_FALSE(rfs.exists("anything"));
    EXPECT_FALSE(rfs.list("."));
}

TEST_F(RootedFsTest, ConvertsToACoreResultAndSurvivesAMove) {
    RootedFs first(m_root);
    first.simulate_error("garbage");
    RootedFs moved(std::move(first));
    const Result<std::string> plain = moved.read("sys/class/powercap/intel-rapl:0:0/name");
    EXPECT_EQ(plain.value(), "core\n");
    const Result<std::string> failed = moved.read("garbage");
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("permission denied"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::core
