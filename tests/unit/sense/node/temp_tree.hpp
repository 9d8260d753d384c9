#pragma once
// A scratch copy of a fixture tree (tests/fixtures/...) in a fresh temporary directory, which tests may
// rewrite between reads (counters that move, files that vanish); removed when the object goes.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace joulepilot::testing {

inline std::filesystem::path fixture_path(std::string_view relative) {
    return std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / relative;
}

class TempTree {
public:
    // `fixture`: a folder under tests/fixtures to copy ("sysfs/intel-2s"); empty for an empty tree.
    explicit TempTree(std::string_view fixture = {}) {
        std::string pattern = (std::filesystem::temp_directory_path() / "joulepilot-node-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_root = pattern;
        if (!fixture.empty()) {
            std::filesystem::copy(
                fixture_path(fixture), m_root,
                std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
        }
    }
    ~TempTree() {
        std::error_code ec;
        std::filesystem::remove_all(m_root, ec);
    }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;

    [[nodiscard]] const std::filesystem::path& root() const { return m_root; }

    // Writes (replacing) a file, creating its directories, in place (same inode when it exists).
    void write(std::string_view relative, std::string_view content) const {
        const auto path = m_root / relative;
        std::filesystem::create_directories(path.parent_path());
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out) throw std::runtime_error("cannot write " + path.string());
    }
    void remove(std::string_view relative) const { std::filesystem::remove_all(m_root / relative); }

private:
    std::filesystem::path m_root;
};

}  // namespace joulepilot::testing
