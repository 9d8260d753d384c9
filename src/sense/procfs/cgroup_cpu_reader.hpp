#pragma once
// Per-cgroup CPU time from cgroup v2 (`cpu.stat` usage_usec, microseconds), for attribution per
// container or systemd service, and the CPU time each cgroup used in an interval.
//
// Which cgroups: the direct children of each configured parent (default: the children of the cgroup
// root: system.slice, user.slice, kubepods.slice, ...). A cgroup's usage includes its descendants, so
// siblings never overlap and can be attributed side by side; do not configure a parent together with one
// of its descendants. The listing is redone every read, so containers that start and stop are followed.
// CPU time spent in the parent itself (outside every child) is not in any child: attribute the node's
// remaining busy time to an "other" consumer.
//
// Not thread-safe: owned by one thread. Holds a reference to `fs`, which must outlive it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"
#include "sense/sensor.hpp"

namespace joulepilot::sense {

struct CgroupCpuTime {
    std::string path;  // relative to the cgroup root: "system.slice/nginx.service"
    std::uint64_t usage_usec = 0;
};

// The usage_usec value of a cpu.stat text; nullopt when absent or malformed.
std::optional<std::uint64_t> parse_cpu_stat_usage_usec(std::string_view text);

struct CgroupCpuOptions {
    std::string cgroup_root = "sys/fs/cgroup";
    // Parents whose children are read, relative to cgroup_root; "" is the root itself.
    std::vector<std::string> parents = {""};
};

class CgroupCpuReader {
public:
    explicit CgroupCpuReader(const core::RootedFs& fs, CgroupCpuOptions options = {});

    // What prevents reading (cgroup v2 not mounted at cgroup_root, a parent missing); nullopt when fine.
    [[nodiscard]] std::optional<Unavailable> check() const;
    // Replaces `out` with the children of every parent that have a readable cpu.stat, sorted by path.
    // Fails when a parent cannot be listed.
    core::Result<void> read(std::vector<CgroupCpuTime>& out);

private:
    const core::RootedFs& m_fs;
    CgroupCpuOptions m_options;
    std::vector<std::string> m_names;
    std::string m_path;
};

// CPU time of one cgroup in one interval.
struct CgroupCpuUse {
    std::string path;
    core::Seconds cpu{0};
};

// Turns consecutive CgroupCpuReader snapshots into per-interval CPU time per cgroup. A cgroup new since
// the previous snapshot counts its whole usage (it was created within the interval); one whose usage went
// down was deleted and re-created under the same name, and counts its whole (new) usage too.
class CgroupCpuTracker {
public:
    // `snapshot` must be sorted by path (as read() returns it). First call: baseline only, out empty.
    void update(const std::vector<CgroupCpuTime>& snapshot, std::vector<CgroupCpuUse>& out);

private:
    bool m_has_baseline = false;
    std::vector<CgroupCpuTime> m_previous;
};

}  // namespace joulepilot::sense
