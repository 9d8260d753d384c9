#pragma once
// Per-process CPU time from /proc/<pid>/stat (utime + stime, in USER_HZ clock ticks), and the CPU time
// each process used in an interval: the weights of per-process energy attribution.
//
// Processes are not fixed signals (they come and go), so these are readers for attribution rather than
// a Sensor. Cost is the design constraint: a node runs ~1,000 processes, this runs every tick, the
// budget is 1 ms of CPU, and on a VM each open/read/close of a procfs file costs several microseconds
// while the kernel's formatting of /proc/<pid>/stat costs ~4 us on its own. So the reader
//   - keeps each process's stat file open and re-reads it with pread (procfs regenerates it at offset
//     0): one syscall per process instead of three, up to max_open_files descriptors;
//   - lists /proc only when a new pid may exist: when the last allocated pid (/proc/loadavg) moved,
//     and at least every 30 reads; a process that exits is noticed when its open file reads ESRCH;
//   - reads a process whose CPU time did not move on its last two reads only every
//     idle_recheck_reads-th read (staggered by pid). CPU time is cumulative, so nothing is lost: a
//     sleeper that wakes has its CPU time counted at its next read, at most idle_recheck_reads - 1
//     intervals late. Set it to 1 for exact per-interval timing at full cost.
// No allocation once the vectors have grown (see bench/sense_bench.cpp for the measured cost).
//
// /proc/loadavg's last pid is that of the READER's pid namespace: when /proc belongs to another one
// (a container reading a host /proc without hostPID), set always_relist.
//
// Races are normal: a process that exits between the listing and its read is dropped silently; one that
// exits during an interval takes that interval's CPU time with it (the kernel keeps no record), so
// per-process shares can miss a little of the node's busy time; give that remainder to an "other"
// consumer (node.cpu_busy_seconds_total minus the sum) when attributing.
//
// Not thread-safe: owned by one thread. Holds a reference to `fs`, which must outlive it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/rooted_fs.hpp"
#include "core/units.hpp"

namespace joulepilot::sense {

struct ProcessCpuTime {
    std::int32_t pid = 0;
    // Start time in clock ticks after boot: (pid, start_ticks) tells a reused pid from the old process.
    std::uint64_t start_ticks = 0;
    std::uint64_t cpu_ticks = 0;  // utime + stime of all its threads, clock ticks
    std::string comm;             // the kernel's 15-character command name
};

// Parses the text of one /proc/<pid>/stat. The command name may hold spaces and parentheses, so it is
// taken up to the LAST ')'. False on malformed text.
bool parse_process_stat(std::string_view text, ProcessCpuTime& out);

struct ProcessCpuOptions {
    std::string proc_dir = "proc";
    // Stat files kept open between reads; 0: half of this process's soft RLIMIT_NOFILE. Processes beyond
    // it are read with open/read/close. (Raising the soft limit to the hard one at start-up, as the Go
    // runtime does, lets a 1,000-process node be read entirely through kept descriptors.)
    std::size_t max_open_files = 0;
    // Idle processes are re-read every this many reads (1: every process on every read).
    unsigned idle_recheck_reads = 4;
    // List /proc on every read instead of only when a pid was allocated (see the namespace note above).
    bool always_relist = false;
};

struct ProcessCpuStats {
    std::uint64_t reads = 0;       // read() calls
    std::uint64_t listings = 0;    // directory listings of proc_dir
    std::uint64_t stat_reads = 0;  // stat files read (kept or opened)
    std::uint64_t opens = 0;       // stat files opened
    std::uint64_t malformed = 0;   // stat files present but unparseable
};

class ProcessCpuReader {
public:
    explicit ProcessCpuReader(const core::RootedFs& fs, ProcessCpuOptions options = {});

    // Replaces `out` with one entry per live process, sorted by pid: read this time, or (an idle process
    // not due for a re-read) as last read. Fails only when the proc directory cannot be listed.
    core::Result<void> read(std::vector<ProcessCpuTime>& out);
    [[nodiscard]] const ProcessCpuStats& stats() const { return m_stats; }
    // Stat files currently kept open.
    [[nodiscard]] std::size_t open_files() const { return m_open_files; }

private:
    struct Entry {
        ProcessCpuTime last;
        core::OpenFile file;
        std::uint32_t unchanged_reads = 0;  // consecutive reads with the same CPU time
        bool valid = false;                 // read at least once
        bool alive = true;
    };
    // The last allocated pid from /proc/loadavg; nullopt when unreadable (then: list every read).
    [[nodiscard]] std::optional<std::uint64_t> last_allocated_pid() const;
    core::Result<void> relist();
    void read_entry(Entry& entry);

    const core::RootedFs& m_fs;
    ProcessCpuOptions m_options;
    std::size_t m_max_open_files = 0;
    std::vector<Entry> m_entries;  // sorted by pid
    std::vector<Entry> m_merged;   // scratch for relist()
    std::vector<std::int32_t> m_listed;
    std::vector<std::string> m_names;
    std::string m_path;
    std::optional<std::uint64_t> m_last_pid;
    std::uint32_t m_reads_since_listing = 0;
    std::size_t m_open_files = 0;
    ProcessCpuStats m_stats;
};

// CPU time of one process in one interval.
struct ProcessCpuUse {
    std::int32_t pid = 0;
    std::string comm;
    core::Seconds cpu{0};
};

// Turns consecutive ProcessCpuReader snapshots into per-interval CPU time per process.
class ProcessCpuTracker {
public:
    // ticks_per_second: USER_HZ (clock_ticks_per_second() in node_cpu_sensor.hpp).
    explicit ProcessCpuTracker(long ticks_per_second);

    // Folds in a new snapshot and fills `out` with every process that used CPU since the previous one.
    // A process new since the previous snapshot (or a reused pid) counts all its CPU time: it started
    // within the interval. The first call only sets the baseline (out is empty). `snapshot` is taken
    // over and handed back holding the previous snapshot, so the two buffers are reused every tick.
    void update(std::vector<ProcessCpuTime>& snapshot, std::vector<ProcessCpuUse>& out);
    [[nodiscard]] bool has_baseline() const { return m_has_baseline; }

private:
    double m_seconds_per_tick;
    bool m_has_baseline = false;
    std::vector<ProcessCpuTime> m_previous;  // sorted by pid
};

}  // namespace joulepilot::sense
