#pragma once
// RootedFs: every sysfs/procfs access of the node world goes through one of these, so that the same code
// reads the real machine (root "/") or a fixture tree (root "/tmp/xyz"). Paths given to it are relative
// to the root ("sys/class/powercap/intel-rapl:0/energy_uj"; a leading '/' is ignored).
//
// Errors say what kind of failure happened (absent, permission denied, garbage, other) and name the full
// path, because the difference matters to the user: an absent RAPL zone is "not present", an unreadable
// one is "permission denied" with a fix. FileError derives from core::Error, so a FileResult<T> converts
// to core::Result<T> where the kind no longer matters.
//
// Permission denied cannot be produced with chmod when tests (and CI) run as root, so tests mark paths
// with simulate_error(); every read, listing and existence check consults that list first.
//
// Reads are plain POSIX calls relative to a directory descriptor of the root opened once, with no
// allocation on the hot paths (read_into, read_u64, list_into with a reused vector), because a tick
// reads ~1,000 procfs files.
//
// Thread-safety: the const methods may be called from any number of threads at once. simulate_error()
// is for test set-up only, before the object is shared. Sensors keep a reference: a RootedFs must outlive
// every sensor built from it.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "core/result.hpp"

namespace joulepilot::core {

enum class FileErrorKind : std::uint8_t {
    not_found,          // ENOENT / ENOTDIR: the file or a directory on its path does not exist
    permission_denied,  // EACCES / EPERM
    invalid_content,    // read fine, but not what was expected (read_u64 on "abc")
    other,              // EIO, ENODATA (sysfs attributes the hardware refuses), ...
};
std::string_view to_string(FileErrorKind kind);

struct FileError : Error {
    FileErrorKind kind = FileErrorKind::other;
    std::string path;  // full path (root joined with the relative path)
};

template <class T>
using FileResult = tl::expected<T, FileError>;

// A file kept open for repeated reads from its start: procfs and sysfs regenerate their content on every
// read at offset 0, so a reader that polls the same files every tick saves an open and a close each time
// (see ProcessCpuReader). A regular file (a fixture) shows what was last written to the same inode.
// Move-only; closes on destruction. Reads are safe from several threads (pread has no shared offset).
class OpenFile {
public:
    OpenFile() = default;
    ~OpenFile();
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;
    OpenFile(OpenFile&& other) noexcept;
    OpenFile& operator=(OpenFile&& other) noexcept;

    [[nodiscard]] bool is_open() const { return m_fd >= 0; }
    // Reads up to buffer.size() bytes from offset 0 with one pread; the byte count (0 for an exited
    // process's procfs file on some kernels, ESRCH on others: both mean "gone").
    [[nodiscard]] FileResult<std::size_t> read_from_start(std::span<char> buffer) const;
    [[nodiscard]] const std::string& path() const { return m_path; }
    void close();

private:
    friend class RootedFs;
    OpenFile(int fd, std::string path) : m_fd(fd), m_path(std::move(path)) {}
    int m_fd = -1;
    std::string m_path;  // full path, for messages
};

class RootedFs {
public:
    // Opens the root directory once. A root that cannot be opened is not an error here: every later call
    // fails with that root's error (so a sensor reports "not present" rather than the program aborting).
    explicit RootedFs(std::filesystem::path root = "/");
    ~RootedFs();
    RootedFs(const RootedFs&) = delete;
    RootedFs& operator=(const RootedFs&) = delete;
    RootedFs(RootedFs&& other) noexcept;
    RootedFs& operator=(RootedFs&& other) noexcept;

    [[nodiscard]] const std::filesystem::path& root() const { return m_root; }
    // root joined with `relative`, for messages and for tools that need a real path.
    [[nodiscard]] std::string full_path(std::string_view relative) const;

    // The whole file (sysfs attributes and procfs files are small; capped at 16 MiB).
    [[nodiscard]] FileResult<std::string> read(std::string_view relative) const;
    // Reads up to buffer.size() bytes from the start of the file into `buffer` with ONE read (procfs,
    // sysfs and regular files give all they have in one); returns the byte count. A file longer than the
    // buffer is truncated silently: size the buffer for what you parse.
    [[nodiscard]] FileResult<std::size_t> read_into(std::string_view relative, std::span<char> buffer) const;
    // First line of the file with surrounding whitespace removed ("package-0\n" -> "package-0").
    [[nodiscard]] FileResult<std::string> read_line(std::string_view relative) const;
    // A non-negative decimal integer with optional surrounding whitespace ("262143328850\n"); anything
    // else is invalid_content, naming what was read.
    [[nodiscard]] FileResult<std::uint64_t> read_u64(std::string_view relative) const;
    // Opens a file for repeated reads from its start (simulated errors apply here).
    [[nodiscard]] FileResult<OpenFile> open(std::string_view relative) const;
    // A decimal integer that may be negative (hwmon temperatures below 0 C).
    [[nodiscard]] FileResult<std::int64_t> read_i64(std::string_view relative) const;
    // Target of a symbolic link (sysfs `device` links), as stored in the link.
    [[nodiscard]] FileResult<std::string> read_link(std::string_view relative) const;

    // Entry names of a directory, without "." and "..", sorted (for discovery: deterministic order).
    [[nodiscard]] FileResult<std::vector<std::string>> list(std::string_view relative) const;
    // Same, unsorted, into a vector whose strings' storage is reused between calls (hot path).
    // directories_only: only entries that are directories (or links to directories), e.g. the child
    // cgroups among a cgroup's control files, without a stat per entry where the kernel gives the type.
    [[nodiscard]] FileResult<std::size_t> list_into(std::string_view relative,
                                                    std::vector<std::string>& names,
                                                    bool directories_only = false) const;
    // True when the path exists (a simulated error does not hide it: the file is there, just unreadable).
    [[nodiscard]] bool exists(std::string_view relative) const;
    [[nodiscard]] bool is_directory(std::string_view relative) const;

    // Test hook: every later access to `relative` (a file, or a directory and everything below it) fails
    // with `kind` and the message of the matching errno, as if the kernel had refused it. Set-up only.
    void simulate_error(std::string_view relative, FileErrorKind kind = FileErrorKind::permission_denied);

private:
    // openat() below the root, honouring simulated errors; the caller closes the returned descriptor.
    [[nodiscard]] FileResult<int> open_relative(std::string_view relative, int flags) const;
    [[nodiscard]] const FileErrorKind* simulated(std::string_view relative) const;
    [[nodiscard]] FileError error_for(std::string_view relative, int errno_value) const;
    [[nodiscard]] FileError error_of_kind(std::string_view relative, FileErrorKind kind,
                                          std::string_view what) const;

    std::filesystem::path m_root;
    int m_root_fd = -1;
    int m_root_errno = 0;  // why the root could not be opened, when m_root_fd < 0
    struct Simulated {
        std::string relative;
        FileErrorKind kind;
    };
    std::vector<Simulated> m_simulated;
};

}  // namespace joulepilot::core
