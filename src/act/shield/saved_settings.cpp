#include "act/shield/saved_settings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace joulepilot::act {

namespace {

constexpr int kFormatVersion = 1;

core::Result<void> write_all_and_sync(const std::filesystem::path& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return core::fail(fmt::format("cannot write {}: {} (check the state directory exists and is writable)",
                                      path.string(), std::strerror(errno)));
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return core::fail(fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
        }
        done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!synced) return core::fail(fmt::format("cannot sync {}: {}", path.string(), std::strerror(err)));
    return {};
}

void sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

bool SavedSettingsFile::exists() const {
    std::error_code ec;
    return std::filesystem::exists(m_path, ec);
}

core::Result<std::vector<SavedKnob>> SavedSettingsFile::load() const {
    std::ifstream in(m_path);
    if (!in) return core::fail(fmt::format("cannot read saved settings {}: {}", m_path.string(), std::strerror(errno)));
    std::stringstream text;
    text << in.rdbuf();
    try {
        const auto doc = nlohmann::json::parse(text.str());
        if (doc.value("version", 0) != kFormatVersion) {
            return core::fail(fmt::format("saved settings {}: unknown format version {} (expected {})", m_path.string(),
                                          doc.value("version", 0), kFormatVersion));
        }
        std::vector<SavedKnob> knobs;
        for (const auto& k : doc.at("knobs")) {
            knobs.push_back({k.at("actuator").get<std::string>(), k.at("knob").get<std::string>(),
                             k.at("original").get<double>()});
        }
        return knobs;
    } catch (const nlohmann::json::exception& e) {
        return core::fail(fmt::format("saved settings {} is corrupt ({}); the originals it held are unknown: check "
                                      "the hardware settings by hand, then delete the file",
                                      m_path.string(), e.what()));
    }
}

core::Result<void> SavedSettingsFile::store(const std::vector<SavedKnob>& knobs) const {
    nlohmann::json doc;
    doc["version"] = kFormatVersion;
    doc["pid"] = static_cast<long>(::getpid());
    doc["knobs"] = nlohmann::json::array();
    for (const auto& k : knobs) {
        doc["knobs"].push_back({{"actuator", k.actuator}, {"knob", k.knob}, {"original", k.original}});
    }
    std::error_code ec;
    if (m_path.has_parent_path()) std::filesystem::create_directories(m_path.parent_path(), ec);
    const std::filesystem::path temp = m_path.string() + ".tmp";
    if (auto written = write_all_and_sync(temp, doc.dump(2) + "\n"); !written) return written;
    if (::rename(temp.c_str(), m_path.c_str()) != 0) {
        return core::fail(fmt::format("cannot replace {}: {}", m_path.string(), std::strerror(errno)));
    }
    sync_directory(m_path.parent_path());
    return {};
}

core::Result<void> SavedSettingsFile::remove() const {
    std::error_code ec;
    std::filesystem::remove(m_path, ec);
    if (ec) return core::fail(fmt::format("cannot remove {}: {}", m_path.string(), ec.message()));
    sync_directory(m_path.parent_path());
    return {};
}

}  // namespace joulepilot::act
