#include "sense/procfs/cgroup_cpu_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace joulepilot::sense {

std::optional<std::uint64_t> parse_cpu_stat_usage_usec(std::string_view text) {
    constexpr std::string_view kKey = "usage_usec ";
    std::size_t at = 0;
    while (at < text.size()) {
        const auto line_end = std::min(text.find('\n', at), text.size());
        const std::string_view line = text.substr(at, line_end - at);
        if (line.substr(0, kKey.size()) == kKey) {
            const std::string_view number = line.substr(kKey.size());
            std::uint64_t value = 0;
            const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
            if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
            return value;
        }
        at = line_end + 1;
    }
    return std::nullopt;
}

CgroupCpuReader::CgroupCpuReader(const core::RootedFs& fs, CgroupCpuOptions options)
    : m_fs(fs), m_options(std::move(options)) {}

std::optional<Unavailable> CgroupCpuReader::check() const {
    if (!m_fs.exists(m_options.cgroup_root + "/cgroup.controllers")) {
        return Unavailable{"cgroup v2 CPU time (" + m_fs.full_path(m_options.cgroup_root) + ")",
                           "not present",
                           "boot with the unified cgroup hierarchy (systemd.unified_cgroup_hierarchy=1)"};
    }
    for (const std::string& parent : m_options.parents) {
        const std::string dir = parent.empty() ? m_options.cgroup_root : m_options.cgroup_root + "/" + parent;
        if (!m_fs.is_directory(dir)) {
            return Unavailable{"cgroup " + (parent.empty() ? std::string("/") : parent), "not present",
                               "check the cgroup parents in the configuration"};
        }
    }
    return std::nullopt;
}

core::Result<void> CgroupCpuReader::read(std::vector<CgroupCpuTime>& out) {
    std::size_t used = 0;
    std::array<char, 1024> buffer{};
    for (const std::string& parent : m_options.parents) {
        const std::string dir = parent.empty() ? m_options.cgroup_root : m_options.cgroup_root + "/" + parent;
        // Children are the sub-directories (the rest are control files: cgroup.procs, cpu.max, ...).
        auto listed = m_fs.list_into(dir, m_names, /*directories_only=*/true);
        if (!listed) return core::fail("cgroup: list " + listed.error().message);
        for (const std::string& name : m_names) {
            m_path.assign(dir).append("/").append(name).append("/cpu.stat");
            auto n = m_fs.read_into(m_path, buffer);
            if (!n) continue;
            const auto usage = parse_cpu_stat_usage_usec(std::string_view(buffer.data(), *n));
            if (!usage) continue;
            if (used == out.size()) out.emplace_back();
            CgroupCpuTime& c = out[used++];
            c.path.assign(parent);
            if (!parent.empty()) c.path += '/';
            c.path += name;
            c.usage_usec = *usage;
        }
    }
    out.resize(used);
    std::sort(out.begin(), out.end(),
              [](const CgroupCpuTime& a, const CgroupCpuTime& b) { return a.path < b.path; });
    return {};
}

void CgroupCpuTracker::update(const std::vector<CgroupCpuTime>& snapshot, std::vector<CgroupCpuUse>& out) {
    out.clear();
    if (m_has_baseline) {
        auto before = m_previous.begin();
        for (const CgroupCpuTime& now : snapshot) {
            while (before != m_previous.end() && before->path < now.path) ++before;
            const bool known = before != m_previous.end() && before->path == now.path;
            const std::uint64_t usec = known && now.usage_usec >= before->usage_usec
                                           ? now.usage_usec - before->usage_usec
                                           : now.usage_usec;
            if (usec > 0) out.push_back({now.path, core::Seconds(static_cast<double>(usec) * 1e-6)});
        }
    }
    m_has_baseline = true;
    m_previous = snapshot;
}

}  // namespace joulepilot::sense
