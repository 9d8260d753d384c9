#include "act/sysfs/sysfs_attribute.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace joulepilot::act {
namespace {

core::FileError write_error(const core::RootedFs& fs, std::string_view relative, int errno_value) {
    core::FileErrorKind kind = core::FileErrorKind::other;
    if (errno_value == ENOENT || errno_value == ENOTDIR) kind = core::FileErrorKind::not_found;
    if (errno_value == EACCES || errno_value == EPERM || errno_value == EROFS)
        kind = core::FileErrorKind::permission_denied;
    if (errno_value == EINVAL) kind = core::FileErrorKind::invalid_content;
    std::string path = fs.full_path(relative);
    return core::FileError{{fmt::format("{}: write: {}", path, std::strerror(errno_value))}, kind, path};
}

}  // namespace

core::FileResult<void> write_sysfs_u64(const core::RootedFs& fs, std::string_view relative,
                                       std::uint64_t value) {
    // Opening through the RootedFs first applies its simulated errors and reports a missing file as such.
    if (auto probe = fs.open(relative); !probe) {
        core::FileError error = std::move(probe.error());
        error.message = fmt::format("{}: write: {}", error.path, core::to_string(error.kind));
        return tl::unexpected(std::move(error));
    }
    const std::string path = fs.full_path(relative);
    int fd = -1;
    do {
        fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return tl::unexpected(write_error(fs, relative, errno));

    const std::string text = std::to_string(value);
    ssize_t written = -1;
    do {
        written = ::write(fd, text.data(), text.size());  // sysfs takes an attribute in one write
    } while (written < 0 && errno == EINTR);
    const int write_errno = errno;
    const int close_status = ::close(fd);
    const int close_errno = errno;
    if (written < 0) return tl::unexpected(write_error(fs, relative, write_errno));
    if (static_cast<std::size_t>(written) != text.size())
        return tl::unexpected(write_error(fs, relative, EIO));
    if (close_status != 0) return tl::unexpected(write_error(fs, relative, close_errno));
    return {};
}

}  // namespace joulepilot::act
