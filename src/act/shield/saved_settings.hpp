#pragma once
// The originals of every knob joulepilot has changed, kept durably in a small JSON file so that a start
// after SIGKILL or power loss can put them back before doing anything else (`joulepilot restore` reads
// the same file). Written with write-to-temp, fsync, rename: a crash leaves the old file or the new one,
// never half of one. Used by the shield on the loop thread.

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace joulepilot::act {

struct SavedKnob {
    std::string actuator;
    std::string knob;
    double original = 0;
};

class SavedSettingsFile {
public:
    explicit SavedSettingsFile(std::filesystem::path path) : m_path(std::move(path)) {}

    [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
    [[nodiscard]] bool exists() const;
    // Every knob recorded; an unreadable or corrupt file is an error naming the file (never guessed at).
    [[nodiscard]] core::Result<std::vector<SavedKnob>> load() const;
    // Replaces the file's contents durably.
    core::Result<void> store(const std::vector<SavedKnob>& knobs) const;
    // After a complete restore: nothing is left to put back.
    core::Result<void> remove() const;

private:
    std::filesystem::path m_path;
};

}  // namespace joulepilot::act
