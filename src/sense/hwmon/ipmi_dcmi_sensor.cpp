#include "sense/hwmon/ipmi_dcmi_sensor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

#include "core/csv.hpp"
#include "core/text.hpp"

extern char** environ;  // NOLINT: POSIX gives the environment only through this global

namespace joulepilot::sense {
namespace {

constexpr std::size_t kMaxCapture = 64U << 10U;

// "178 Watts" -> 178; nullopt when the first word is not a number.
std::optional<double> leading_number(std::string_view value) {
    value = core::trim(value);
    return core::parse_double(value.substr(0, value.find(' ')));
}

std::string first_line(std::string_view text) {
    text = core::trim(text);
    return std::string(text.substr(0, text.find('\n')));
}

class Pipe {
public:
    Pipe() {
        if (::pipe2(m_fds.data(), O_CLOEXEC) != 0) m_fds = {-1, -1};
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    [[nodiscard]] bool ok() const { return m_fds[0] >= 0; }
    [[nodiscard]] int read_end() const { return m_fds[0]; }
    [[nodiscard]] int write_end() const { return m_fds[1]; }
    void close_read() {
        if (m_fds[0] >= 0) ::close(m_fds[0]);
        m_fds[0] = -1;
    }
    void close_write() {
        if (m_fds[1] >= 0) ::close(m_fds[1]);
        m_fds[1] = -1;
    }

private:
    std::array<int, 2> m_fds{-1, -1};
};

}  // namespace

std::optional<DcmiPowerStatistics> parse_dcmi_power_statistics(std::string_view text) {
    DcmiPowerStatistics stats;
    bool found = false;
    core::for_each_key_value_line(text, [&](std::string_view key, std::string_view value) {
        if (key == "Current Power") {
            stats.current_watts = leading_number(value);
            found = true;
        } else if (key == "Average Power over sampling duration") {
            stats.average_watts = leading_number(value);
        } else if (key == "Power Measurement") {
            stats.measurement_active = core::trim(value) == "Active";
        }
    });
    if (!found) return std::nullopt;
    return stats;
}

CommandOutput run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    CommandOutput result;
    if (argv.empty()) {
        result.spawn_errno = EINVAL;
        return result;
    }
    Pipe out_pipe;
    Pipe err_pipe;
    if (!out_pipe.ok() || !err_pipe.ok()) {
        result.spawn_errno = errno;
        return result;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe.write_end(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe.write_end(), STDERR_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));  // NOLINT: POSIX signature
    args.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        result.spawn_errno = spawned;
        return result;
    }
    out_pipe.close_write();
    err_pipe.close_write();

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<pollfd, 2> fds{{{out_pipe.read_end(), POLLIN, 0}, {err_pipe.read_end(), POLLIN, 0}}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    std::array<char, 4096> buffer{};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            break;
        }
        const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) break;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
            if (n > 0) {
                if (sinks[i]->size() < kMaxCapture)
                    sinks[i]->append(buffer.data(), static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;  // end of stream (the Pipe closes it)
            }
        }
    }
    if (result.timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

IpmiDcmiSensor::IpmiDcmiSensor(IpmiDcmiOptions options) : m_options(std::move(options)) {}

std::string IpmiDcmiSensor::command_name() const {
    return m_options.command.empty() ? std::string("(no command)") : m_options.command.front();
}

core::Result<DcmiPowerStatistics> IpmiDcmiSensor::interpret(const CommandOutput& run) const {
    if (run.spawn_errno != 0) {
        return core::fail(fmt::format("ipmi: run {}: {}", command_name(), std::strerror(run.spawn_errno)));
    }
    if (run.timed_out) {
        return core::fail(fmt::format("ipmi: {} did not answer within {} ms (killed)", command_name(),
                                      m_options.timeout.count()));
    }
    if (run.exit_status != 0) {
        const std::string message = first_line(run.err.empty() ? run.out : run.err);
        return core::fail(fmt::format("ipmi: {} exited with status {}{}{}", command_name(), run.exit_status,
                                      message.empty() ? "" : ": ", message));
    }
    auto stats = parse_dcmi_power_statistics(run.out);
    if (!stats) {
        return core::fail(fmt::format(R"(ipmi: {}: no "Current Power" line in its output: "{}")",
                                      command_name(), first_line(run.out)));
    }
    return *stats;
}

std::vector<SignalInfo> IpmiDcmiSensor::discover() {
    m_unavailable.clear();
    m_available = false;
    const std::string what = "IPMI DCMI node power (" + command_name() + ")";
    const CommandOutput probe = run_command(m_options.command, m_options.timeout);
    if (probe.spawn_errno == ENOENT) {
        m_unavailable.push_back(
            {what, "not present", "install FreeIPMI: sudo apt-get install freeipmi-tools (and run as root)"});
        return {};
    }
    auto stats = interpret(probe);
    if (!stats) {
        m_unavailable.push_back(
            {what, stats.error().message,
             "run as root with the ipmi_si and ipmi_devintf kernel modules loaded; the BMC "
             "must support DCMI power readings"});
        return {};
    }
    m_available = true;
    return {
        {"node.ipmi_power_watts", "W", Provenance::measured,
         "whole-node power from the BMC (DCMI Current Power)"},
        {"node.ipmi_average_power_watts", "W", Provenance::measured,
         "whole-node power averaged by the BMC over its sampling period (DCMI)"},
    };
}

core::Result<void> IpmiDcmiSensor::read(std::span<Sample> samples) {
    for (Sample& s : samples) s = Sample{};
    if (!m_available) return {};
    auto stats = interpret(run_command(m_options.command, m_options.timeout));
    if (!stats) return core::fail(stats.error().message);
    if (!stats->measurement_active) return {};
    if (!samples.empty() && stats->current_watts) samples[0] = Sample{*stats->current_watts, true};
    if (samples.size() > 1 && stats->average_watts) samples[1] = Sample{*stats->average_watts, true};
    return {};
}

}  // namespace joulepilot::sense
