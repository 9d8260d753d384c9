#pragma once
// The real `joulepilot` binary as integration tests run it: in the background (the agent, with its stderr
// in a file so a test can find the port it listens on and read its log), or to completion (audit, ledger
// and restore commands, stdout and stderr captured). JOULEPILOT_BIN names the binary.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace joulepilot::testing {

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// A joulepilot process in the background; stdout and stderr go to files in `dir` (fresh ones each time).
class BackgroundJoulepilot {
public:
    BackgroundJoulepilot(const std::vector<std::string>& args, const std::filesystem::path& dir)
        : m_err(dir / "stderr.txt") {
        const std::filesystem::path out = dir / "stdout.txt";
        std::filesystem::remove(m_err);
        std::filesystem::remove(out);
        m_pid = ::fork();
        if (m_pid == 0) {
            const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            const int e = ::open(m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(o, 1);
            ::dup2(e, 2);
            std::vector<std::string> strings{JOULEPILOT_BIN};
            strings.insert(strings.end(), args.begin(), args.end());
            std::vector<char*> argv;
            for (auto& s : strings) argv.push_back(s.data());
            argv.push_back(nullptr);
            ::execv(JOULEPILOT_BIN, argv.data());
            ::_exit(127);
        }
    }
    BackgroundJoulepilot(const BackgroundJoulepilot&) = delete;
    BackgroundJoulepilot& operator=(const BackgroundJoulepilot&) = delete;
    ~BackgroundJoulepilot() {
        if (m_pid > 0 && !m_reaped) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }

    // The port from "listening on 127.0.0.1:<port>", waiting up to 20 s; nullopt when it exited first.
    std::optional<int> port() {
        const std::regex pattern("listening on 127\\.0\\.0\\.1:([0-9]+)");
        for (int i = 0; i < 200; ++i) {
            std::smatch m;
            const std::string err = read_text(m_err);
            if (std::regex_search(err, m, pattern)) return std::stoi(m[1]);
            if (exited()) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return std::nullopt;
    }
    bool exited() {
        if (m_reaped) return true;
        int status = 0;
        if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_reaped = true;
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        return m_reaped;
    }
    // Sends `signal` and waits up to 20 s for the exit status (-1 if it is still running).
    int stop(int signal) {
        ::kill(m_pid, signal);
        for (int i = 0; i < 200 && !exited(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return m_reaped ? m_status : -1;
    }
    [[nodiscard]] std::string err() const { return read_text(m_err); }

private:
    pid_t m_pid = -1;
    std::filesystem::path m_err;
    bool m_reaped = false;
    int m_status = -1;
};

struct CommandResult {
    int status = -1;
    std::string output;  // stdout and stderr together
};

// Runs `joulepilot <args>` to completion (args are passed to the shell: quote paths with spaces).
inline CommandResult run_joulepilot(const std::string& args) {
    const std::string command = std::string(JOULEPILOT_BIN) + " " + args + " 2>&1";
    CommandResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) result.output += buffer.data();
    const int raw = ::pclose(pipe);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return result;
}

}  // namespace joulepilot::testing
