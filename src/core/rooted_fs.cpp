#include "core/rooted_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace joulepilot::core {
namespace {

constexpr std::size_t kMaxWholeFile = 16U << 20U;

// "/sys/x/" -> "sys/x"; "" and "/" -> "." (the root itself).
std::string_view normalized(std::string_view relative) {
    while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
    while (!relative.empty() && relative.back() == '/') relative.remove_suffix(1);
    return relative.empty() ? std::string_view(".") : relative;
}

// NUL-terminated copy of a relative path; false when it does not fit (ENAMETOOLONG).
bool to_c_path(std::string_view relative, std::array<char, PATH_MAX>& out) {
    const std::string_view path = normalized(relative);
    if (path.size() >= out.size()) return false;
    std::memcpy(out.data(), path.data(), path.size());
    out[path.size()] = '\0';
    return true;
}

FileErrorKind kind_of_errno(int errno_value) {
    switch (errno_value) {
        case ENOENT:
        case ENOTDIR:
            return FileErrorKind::not_found;
        case EACCES:
        case EPERM:
            return FileErrorKind::permission_denied;
        default:
            return FileErrorKind::other;
    }
}

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

// At most 32 characters of bad content, so an error message stays one line.
std::string quoted_excerpt(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 32)) out += (c == '\n' || c == '\r') ? ' ' : c;
    return fmt::format("\"{}{}\"", out, text.size() > 32 ? "..." : "");
}

class FdCloser {
public:
    explicit FdCloser(int fd) : m_fd(fd) {}
    ~FdCloser() {
        if (m_fd >= 0) ::close(m_fd);
    }
    FdCloser(const FdCloser&) = delete;
    FdCloser& operator=(const FdCloser&) = delete;

private:
    int m_fd;
};

}  // namespace

std::string_view to_string(FileErrorKind kind) {
    switch (kind) {
        case FileErrorKind::not_found:
            return "not present";
        case FileErrorKind::permission_denied:
            return "permission denied";
        case FileErrorKind::invalid_content:
            return "invalid content";
        case FileErrorKind::other:
            return "error";
    }
    return "error";
}

OpenFile::~OpenFile() { close(); }

OpenFile::OpenFile(OpenFile&& other) noexcept
    : m_fd(std::exchange(other.m_fd, -1)), m_path(std::move(other.m_path)) {}

OpenFile& OpenFile::operator=(OpenFile&& other) noexcept {
    if (this != &other) {
        close();
        m_fd = std::exchange(other.m_fd, -1);
        m_path = std::move(other.m_path);
    }
    return *this;
}

void OpenFile::close() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
}

FileResult<std::size_t> OpenFile::read_from_start(std::span<char> buffer) const {
    if (m_fd < 0) return tl::unexpected(FileError{{m_path + ": not open"}, FileErrorKind::other, m_path});
    // One read: procfs and sysfs hand over all they have in one, and so does a regular file, so a short
    // read is the end and a second syscall would only return 0.
    ssize_t n = -1;
    do {
        n = ::pread(m_fd, buffer.data(), buffer.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        const int saved = errno;
        const FileErrorKind kind = kind_of_errno(saved);
        const std::string what =
            kind == FileErrorKind::other ? std::strerror(saved) : std::string(to_string(kind));
        return tl::unexpected(FileError{{fmt::format("{}: {}", m_path, what)}, kind, m_path});
    }
    return static_cast<std::size_t>(n);
}

RootedFs::RootedFs(std::filesystem::path root) : m_root(std::move(root)) {
    m_root_fd = ::open(m_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m_root_fd < 0) m_root_errno = errno;
}

RootedFs::~RootedFs() {
    if (m_root_fd >= 0) ::close(m_root_fd);
}

RootedFs::RootedFs(RootedFs&& other) noexcept
    : m_root(std::move(other.m_root)),
      m_root_fd(std::exchange(other.m_root_fd, -1)),
      m_root_errno(std::exchange(other.m_root_errno, EBADF)),
      m_simulated(std::move(other.m_simulated)) {}

RootedFs& RootedFs::operator=(RootedFs&& other) noexcept {
    if (this != &other) {
        if (m_root_fd >= 0) ::close(m_root_fd);
        m_root = std::move(other.m_root);
        m_root_fd = std::exchange(other.m_root_fd, -1);
        m_root_errno = std::exchange(other.m_root_errno, EBADF);
        m_simulated = std::move(other.m_simulated);
    }
    return *this;
}

std::string RootedFs::full_path(std::string_view relative) const {
    const std::string_view path = normalized(relative);
    if (path == ".") return m_root.string();
    std::string out = m_root.string();
    if (out.empty() || out.back() != '/') out += '/';
    out += path;
    return out;
}

void RootedFs::simulate_error(std::string_view relative, FileErrorKind kind) {
    m_simulated.push_back({std::string(normalized(relative)), kind});
}

const FileErrorKind* RootedFs::simulated(std::string_view relative) const {
    if (m_simulated.empty()) return nullptr;
    const std::string_view path = normalized(relative);
    for (const Simulated& s : m_simulated) {
        if (s.relative == ".") return &s.kind;
        if (path.size() < s.relative.size() || path.substr(0, s.relative.size()) != s.relative) continue;
        if (path.size() == s.relative.size() || path[s.relative.size()] == '/') return &s.kind;
    }
    return nullptr;
}

FileError RootedFs::error_for(std::string_view relative, int errno_value) const {
    const FileErrorKind kind = kind_of_errno(errno_value);
    std::string path = full_path(relative);
    std::string what =
        kind == FileErrorKind::other ? std::string(std::strerror(errno_value)) : std::string(to_string(kind));
    return FileError{{fmt::format("{}: {}", path, what)}, kind, std::move(path)};
}

FileError RootedFs::error_of_kind(std::string_view relative, FileErrorKind kind,
                                  std::string_view what) const {
    std::string path = full_path(relative);
    return FileError{{fmt::format("{}: {}", path, what)}, kind, std::move(path)};
}

FileResult<int> RootedFs::open_relative(std::string_view relative, int flags) const {
    if (const FileErrorKind* kind = simulated(relative)) {
        const int errno_value = *kind == FileErrorKind::permission_denied ? EACCES
                                : *kind == FileErrorKind::not_found       ? ENOENT
                                                                          : EIO;
        if (*kind == FileErrorKind::invalid_content) {
            return tl::unexpected(error_of_kind(relative, *kind, "invalid content (simulated)"));
        }
        return tl::unexpected(error_for(relative, errno_value));
    }
    if (m_root_fd < 0) return tl::unexpected(error_for(relative, m_root_errno));
    std::array<char, PATH_MAX> path{};
    if (!to_c_path(relative, path)) return tl::unexpected(error_for(relative, ENAMETOOLONG));
    int fd = -1;
    do {
        fd = ::openat(m_root_fd, path.data(), flags | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return tl::unexpected(error_for(relative, errno));
    return fd;
}

FileResult<std::size_t> RootedFs::read_into(std::string_view relative, std::span<char> buffer) const {
    auto fd = open_relative(relative, O_RDONLY | O_NOCTTY);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    const FdCloser closer(*fd);
    ssize_t n = -1;
    do {
        n = ::read(*fd, buffer.data(), buffer.size());  // one read is the whole file: see read_from_start
    } while (n < 0 && errno == EINTR);
    if (n < 0) return tl::unexpected(error_for(relative, errno));
    return static_cast<std::size_t>(n);
}

FileResult<OpenFile> RootedFs::open(std::string_view relative) const {
    auto fd = open_relative(relative, O_RDONLY | O_NOCTTY);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return OpenFile(*fd, full_path(relative));
}

FileResult<std::string> RootedFs::read(std::string_view relative) const {
    auto fd = open_relative(relative, O_RDONLY | O_NOCTTY);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    const FdCloser closer(*fd);
    std::string out;
    std::array<char, 4096> chunk{};
    for (;;) {
        const ssize_t n = ::read(*fd, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return tl::unexpected(error_for(relative, errno));
        }
        if (n == 0) break;
        out.append(chunk.data(), static_cast<std::size_t>(n));
        if (out.size() > kMaxWholeFile) {
            return tl::unexpected(
                error_of_kind(relative, FileErrorKind::invalid_content, "larger than 16 MiB"));
        }
    }
    return out;
}

FileResult<std::string> RootedFs::read_line(std::string_view relative) const {
    std::array<char, 4096> buffer{};
    auto n = read_into(relative, buffer);
    if (!n) return tl::unexpected(std::move(n.error()));
    std::string_view text(buffer.data(), *n);
    text = trim(text.substr(0, text.find('\n')));
    return std::string(text);
}

FileResult<std::uint64_t> RootedFs::read_u64(std::string_view relative) const {
    std::array<char, 64> buffer{};
    auto n = read_into(relative, buffer);
    if (!n) return tl::unexpected(std::move(n.error()));
    const std::string_view text = trim(std::string_view(buffer.data(), *n));
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return tl::unexpected(error_of_kind(relative, FileErrorKind::invalid_content,
                                            "not a non-negative integer: " + quoted_excerpt(text)));
    }
    return value;
}

FileResult<std::int64_t> RootedFs::read_i64(std::string_view relative) const {
    std::array<char, 64> buffer{};
    auto n = read_into(relative, buffer);
    if (!n) return tl::unexpected(std::move(n.error()));
    const std::string_view text = trim(std::string_view(buffer.data(), *n));
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return tl::unexpected(error_of_kind(relative, FileErrorKind::invalid_content,
                                            "not an integer: " + quoted_excerpt(text)));
    }
    return value;
}

FileResult<std::string> RootedFs::read_link(std::string_view relative) const {
    if (const FileErrorKind* kind = simulated(relative)) {
        return tl::unexpected(error_of_kind(relative, *kind, to_string(*kind)));
    }
    if (m_root_fd < 0) return tl::unexpected(error_for(relative, m_root_errno));
    std::array<char, PATH_MAX> path{};
    if (!to_c_path(relative, path)) return tl::unexpected(error_for(relative, ENAMETOOLONG));
    std::array<char, PATH_MAX> target{};
    const ssize_t n = ::readlinkat(m_root_fd, path.data(), target.data(), target.size());
    if (n < 0) return tl::unexpected(error_for(relative, errno));
    return std::string(target.data(), static_cast<std::size_t>(n));
}

FileResult<std::size_t> RootedFs::list_into(std::string_view relative, std::vector<std::string>& names,
                                            bool directories_only) const {
    auto fd = open_relative(relative, O_RDONLY | O_DIRECTORY);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    DIR* dir = ::fdopendir(*fd);  // owns fd from here on
    if (dir == nullptr) {
        const int saved = errno;
        ::close(*fd);
        return tl::unexpected(error_for(relative, saved));
    }
    std::size_t count = 0;
    for (;;) {
        errno = 0;  // readdir returns null both at the end and on error; errno tells them apart
        const dirent* entry = ::readdir(dir);
        if (entry == nullptr) break;
        const std::string_view name(entry->d_name);
        if (name == "." || name == "..") continue;
        if (directories_only && entry->d_type != DT_DIR) {
            if (entry->d_type != DT_UNKNOWN && entry->d_type != DT_LNK) continue;
            struct stat st {};
            if (::fstatat(::dirfd(dir), entry->d_name, &st, 0) != 0 || !S_ISDIR(st.st_mode)) continue;
        }
        if (count < names.size()) {
            names[count].assign(name);
        } else {
            names.emplace_back(name);
        }
        ++count;
    }
    const int saved = errno;
    ::closedir(dir);
    if (saved != 0) return tl::unexpected(error_for(relative, saved));
    names.resize(count);
    return count;
}

FileResult<std::vector<std::string>> RootedFs::list(std::string_view relative) const {
    std::vector<std::string> names;
    auto n = list_into(relative, names);
    if (!n) return tl::unexpected(std::move(n.error()));
    std::sort(names.begin(), names.end());
    return names;
}

bool RootedFs::exists(std::string_view relative) const {
    if (m_root_fd < 0) return false;
    std::array<char, PATH_MAX> path{};
    if (!to_c_path(relative, path)) return false;
    struct stat st {};
    return ::fstatat(m_root_fd, path.data(), &st, 0) == 0;
}

bool RootedFs::is_directory(std::string_view relative) const {
    if (m_root_fd < 0) return false;
    std::array<char, PATH_MAX> path{};
    if (!to_c_path(relative, path)) return false;
    struct stat st {};
    return ::fstatat(m_root_fd, path.data(), &st, 0) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace joulepilot::core
