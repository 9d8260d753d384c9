#include "sched/input_watcher.hpp"

#include <algorithm>

namespace joulepilot::sched {

InputWatcher::Stamp InputWatcher::stamp_of(const std::filesystem::path& path) {
    Stamp stamp;
    std::error_code ec;
    stamp.mtime = std::filesystem::last_write_time(path, ec);
    if (ec) return Stamp{};
    stamp.size = std::filesystem::file_size(path, ec);
    if (ec) return Stamp{};
    stamp.exists = true;
    return stamp;
}

void InputWatcher::watch(std::vector<std::filesystem::path> files) {
    std::vector<Watched> next;
    for (std::filesystem::path& path : files) {
        // A file named twice (two sites on one zone) is watched once.
        if (std::any_of(next.begin(), next.end(), [&](const Watched& w) { return w.path == path; })) continue;
        // A file watched already keeps the stamp changed() took before the re-plan read it: a change made
        // while it was being read is still seen.
        const auto known = std::find_if(m_files.begin(), m_files.end(), [&](const Watched& w) { return w.path == path; });
        Stamp stamp = known != m_files.end() ? known->stamp : stamp_of(path);
        next.push_back({std::move(path), stamp});
    }
    m_files = std::move(next);
}

std::vector<std::filesystem::path> InputWatcher::changed() {
    std::vector<std::filesystem::path> out;
    for (Watched& watched : m_files) {
        const Stamp now = stamp_of(watched.path);
        if (now == watched.stamp) continue;
        watched.stamp = now;
        out.push_back(watched.path);
    }
    return out;
}

}  // namespace joulepilot::sched
