#pragma once
// InputWatcher: the files a plan was made from (jobs, sites, and the carbon, weather and price CSVs the
// sites file names) with their modification time and size; changed() names those that differ since they
// were recorded. `joulepilot schedule run --jobs FILE --sites FILE` calls it before each pass and
// re-plans when it names any (src/cli/schedule_command.cpp). Not thread-safe: the CLI's loop owns it.

#include <cstdint>
#include <filesystem>
#include <vector>

namespace joulepilot::sched {

class InputWatcher {
public:
    // Watches `files` from now on: records their current stamps (a missing file is recorded as missing),
    // keeping the recorded stamp of a file watched already.
    void watch(std::vector<std::filesystem::path> files);
    // The watched files whose stamp changed (modified, replaced, removed or created), in watch() order;
    // records their new stamps, so that each change is named once.
    std::vector<std::filesystem::path> changed();
    [[nodiscard]] std::size_t size() const { return m_files.size(); }

private:
    struct Stamp {
        bool exists = false;
        std::filesystem::file_time_type mtime{};
        std::uintmax_t size = 0;
        bool operator==(const Stamp&) const = default;
    };
    static Stamp stamp_of(const std::filesystem::path& path);

    struct Watched {
        std::filesystem::path path;
        Stamp stamp;
    };
    std::vector<Watched> m_files;
};

}  // namespace joulepilot::sched
