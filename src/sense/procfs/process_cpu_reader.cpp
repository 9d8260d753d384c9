#include "sense/procfs/process_cpu_reader.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace joulepilot::sense {
namespace {

// Even when no pid was allocated, list now and then: a safety net for namespaces and odd mounts.
constexpr std::uint32_t kMaxReadsWithoutListing = 30;

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool parse_process_stat(std::string_view text, ProcessCpuTime& out) {
    // "<pid> (<comm>) <state> <ppid> ... utime(14) stime(15) ... starttime(22) ..."
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return false;
    std::int32_t pid = 0;
    const auto [pid_end, pid_ec] = std::from_chars(text.data(), text.data() + open, pid);
    if (pid_ec != std::errc() || pid <= 0) return false;
    (void)pid_end;

    // Fields after ") " are numbered from 3 (state). Walk them with pointers: no allocation.
    const char* p = text.data() + close + 1;
    const char* const end = text.data() + text.size();
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    std::uint64_t start = 0;
    int field = 2;
    while (p < end && field < 22) {
        while (p < end && *p == ' ') ++p;
        if (p == end) break;
        ++field;
        const char* token_end = p;
        while (token_end < end && *token_end != ' ' && *token_end != '\n') ++token_end;
        std::uint64_t* target = field == 14 ? &utime : field == 15 ? &stime : field == 22 ? &start : nullptr;
        if (target != nullptr) {
            const auto [num_end, ec] = std::from_chars(p, token_end, *target);
            if (ec != std::errc() || num_end != token_end) return false;
        }
        p = token_end;
    }
    if (field < 22) return false;
    out.pid = pid;
    out.cpu_ticks = utime + stime;
    out.start_ticks = start;
    out.comm.assign(text.data() + open + 1, close - open - 1);
    return true;
}

ProcessCpuReader::ProcessCpuReader(const core::RootedFs& fs, ProcessCpuOptions options)
    : m_fs(fs), m_options(std::move(options)) {
    m_max_open_files = m_options.max_open_files;
    if (m_max_open_files == 0) {
        rlimit limit{};
        const bool known = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY;
        m_max_open_files = known ? static_cast<std::size_t>(limit.rlim_cur / 2) : 512;
    }
    if (m_options.idle_recheck_reads == 0) m_options.idle_recheck_reads = 1;
}

std::optional<std::uint64_t> ProcessCpuReader::last_allocated_pid() const {
    // "0.52 0.58 0.59 3/1234 56789\n": the last field is the last pid allocated in this pid namespace.
    std::array<char, 128> buffer{};
    auto n = m_fs.read_into(m_options.proc_dir + "/loadavg", buffer);
    if (!n) return std::nullopt;
    std::string_view text(buffer.data(), *n);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    const auto space = text.rfind(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view last = text.substr(space + 1);
    std::uint64_t pid = 0;
    const auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), pid);
    if (ec != std::errc() || end != last.data() + last.size()) return std::nullopt;
    return pid;
}

core::Result<void> ProcessCpuReader::relist() {
    auto listed = m_fs.list_into(m_options.proc_dir, m_names);
    if (!listed) return core::fail("procfs: list processes: " + listed.error().message);
    ++m_stats.listings;
    m_reads_since_listing = 0;
    m_listed.clear();
    for (const std::string& name : m_names) {
        if (!all_digits(name)) continue;
        std::int32_t pid = 0;
        const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (ec == std::errc() && end == name.data() + name.size() && pid > 0) m_listed.push_back(pid);
    }
    if (!std::is_sorted(m_listed.begin(), m_listed.end())) std::sort(m_listed.begin(), m_listed.end());
    // Merge the listing with what is known: keep (with its open file) what is still listed, add what is
    // new, drop (closing its file) what is gone.
    m_merged.clear();
    auto known = m_entries.begin();
    for (const std::int32_t pid : m_listed) {
        while (known != m_entries.end() && known->last.pid < pid) {
            if (known->file.is_open()) --m_open_files;
            ++known;
        }
        if (known != m_entries.end() && known->last.pid == pid) {
            m_merged.push_back(std::move(*known));
            ++known;
        } else {
            Entry entry;
            entry.last.pid = pid;
            m_merged.push_back(std::move(entry));
        }
    }
    for (; known != m_entries.end(); ++known) {
        if (known->file.is_open()) --m_open_files;
    }
    m_entries.swap(m_merged);
    m_merged.clear();  // closes the files of the processes that are gone
    return {};
}

void ProcessCpuReader::read_entry(Entry& entry) {
    // A stat line is ~300 bytes; 1 KiB holds every field we parse even with a 64-byte comm. Left
    // uninitialised on purpose: only the bytes read are looked at, and this runs 1,000 times a tick.
    std::array<char, 1024> buffer;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    auto build_path = [&] {
        std::array<char, 16> digits{};
        const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), entry.last.pid);
        (void)ec;
        m_path.assign(m_options.proc_dir).append("/").append(digits.data(), end).append("/stat");
    };

    std::optional<std::size_t> size;
    if (entry.file.is_open()) {
        auto n = entry.file.read_from_start(buffer);
        if (n && *n > 0) {
            size = *n;
        } else {
            // The process it was opened for is gone (ESRCH, or empty); the pid may hold a new one.
            entry.file.close();
            --m_open_files;
        }
    }
    if (!size && m_open_files < m_max_open_files) {
        build_path();
        if (auto file = m_fs.open(m_path)) {
            ++m_stats.opens;
            entry.file = std::move(*file);
            ++m_open_files;
            auto n = entry.file.read_from_start(buffer);
            if (n && *n > 0) size = *n;
        }
    } else if (!size) {
        build_path();
        auto n = m_fs.read_into(m_path, buffer);  // over the descriptor budget: open, read, close
        if (n && *n > 0) size = *n;
    }
    if (!size) {
        entry.alive = false;  // exited since the listing, or hidden (hidepid): not an error
        return;
    }
    ++m_stats.stat_reads;
    ProcessCpuTime now;
    now.comm.swap(entry.last.comm);  // reuse the string's storage
    if (!parse_process_stat(std::string_view(buffer.data(), *size), now) || now.pid != entry.last.pid) {
        ++m_stats.malformed;
        entry.alive = false;
        return;
    }
    const bool same_process = entry.valid && now.start_ticks == entry.last.start_ticks;
    entry.unchanged_reads =
        same_process && now.cpu_ticks == entry.last.cpu_ticks ? entry.unchanged_reads + 1 : 0;
    entry.last = std::move(now);
    entry.valid = true;
}

core::Result<void> ProcessCpuReader::read(std::vector<ProcessCpuTime>& out) {
    ++m_stats.reads;
    const auto last_pid = last_allocated_pid();
    const bool relist_now = m_options.always_relist || m_stats.listings == 0 || !last_pid ||
                            last_pid != m_last_pid || m_reads_since_listing >= kMaxReadsWithoutListing;
    if (relist_now) {
        if (auto listed = relist(); !listed) return listed;
    }
    ++m_reads_since_listing;
    m_last_pid = last_pid;

    const unsigned every = m_options.idle_recheck_reads;
    bool any_gone = false;
    for (Entry& entry : m_entries) {
        const bool idle = entry.valid && entry.unchanged_reads >= 2;
        const bool due =
            !idle || every <= 1 || (m_stats.reads + static_cast<std::uint64_t>(entry.last.pid)) % every == 0;
        if (due) read_entry(entry);
        if (!entry.alive) {
            if (entry.file.is_open()) --m_open_files;
            any_gone = true;
        }
    }
    if (any_gone) {
        m_entries.erase(
            std::remove_if(m_entries.begin(), m_entries.end(), [](const Entry& e) { return !e.alive; }),
            m_entries.end());
    }

    std::size_t used = 0;
    for (const Entry& entry : m_entries) {
        if (used == out.size()) out.emplace_back();
        ProcessCpuTime& p = out[used++];
        p.pid = entry.last.pid;
        p.start_ticks = entry.last.start_ticks;
        p.cpu_ticks = entry.last.cpu_ticks;
        p.comm.assign(entry.last.comm);
    }
    out.resize(used);
    return {};
}

ProcessCpuTracker::ProcessCpuTracker(long ticks_per_second)
    : m_seconds_per_tick(1.0 / static_cast<double>(ticks_per_second > 0 ? ticks_per_second : 100)) {}

void ProcessCpuTracker::update(std::vector<ProcessCpuTime>& snapshot, std::vector<ProcessCpuUse>& out) {
    const auto by_pid = [](const ProcessCpuTime& a, const ProcessCpuTime& b) { return a.pid < b.pid; };
    if (!std::is_sorted(snapshot.begin(), snapshot.end(), by_pid)) {  // ProcessCpuReader's already is
        std::sort(snapshot.begin(), snapshot.end(), by_pid);
    }
    std::size_t used = 0;
    auto emit = [&](const ProcessCpuTime& p, std::uint64_t ticks) {
        if (ticks == 0) return;
        if (used == out.size()) out.emplace_back();
        ProcessCpuUse& u = out[used++];
        u.pid = p.pid;
        u.comm.assign(p.comm);
        u.cpu = core::Seconds(static_cast<double>(ticks) * m_seconds_per_tick);
    };
    if (m_has_baseline) {
        auto before = m_previous.begin();
        for (const ProcessCpuTime& now : snapshot) {
            while (before != m_previous.end() && before->pid < now.pid) ++before;
            const bool same = before != m_previous.end() && before->pid == now.pid &&
                              before->start_ticks == now.start_ticks;
            if (!same) {
                emit(now, now.cpu_ticks);  // started within the interval
            } else if (now.cpu_ticks >= before->cpu_ticks) {
                emit(now, now.cpu_ticks - before->cpu_ticks);
            }  // a process's CPU time never decreases: a smaller value is a bad read, worth nothing
        }
    }
    out.resize(used);
    m_has_baseline = true;
    m_previous.swap(snapshot);
}

}  // namespace joulepilot::sense
