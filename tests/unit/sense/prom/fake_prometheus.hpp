#pragma once
// Test doubles for the Prometheus client tests, all on 127.0.0.1 and an ephemeral port:
// - FakePrometheus: a real HTTP server (cpp-httplib) that follows the contract of Prometheus's
//   `GET /api/v1/query` (query and time parameters, JSON envelope with status/data or errorType/error).
//   It is a test double, not Prometheus: each PromQL expression is answered with a canned reply, and the
//   decoded parameters and the Authorization header of every request are recorded for the test to check.
// - ClosingServer: accepts connections and closes them without answering.
// - unused_port(): a port nothing listens on (for "connection refused").
// Handlers run on httplib's worker threads; the recorded requests are guarded by a mutex.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace joulepilot::sense::testing {

struct CannedReply {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::chrono::milliseconds delay{0};  // sleeps before answering (released early when the server stops)
};

struct RecordedRequest {
    std::string query;  // decoded by the server
    std::string time;   // "" when absent
    std::string authorization;
};

inline std::string vector_body(const std::vector<std::string>& values) {
    std::string result;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) result += ",";
        result += R"({"metric":{"instance":"replica-)" + std::to_string(i) + R"("},"value":[1700000000.5,")" +
                  values[i] + R"("]})";
    }
    return R"({"status":"success","data":{"resultType":"vector","result":[)" + result + "]}}";
}

inline std::string scalar_body(const std::string& value) {
    return R"({"status":"success","data":{"resultType":"scalar","result":[1700000000.5,")" + value +
           R"("]}})";
}

inline std::string error_body(const std::string& type, const std::string& message) {
    return R"({"status":"error","errorType":")" + type + R"(","error":")" + message + R"("})";
}

class FakePrometheus {
public:
    FakePrometheus() {
        m_server.Get("/api/v1/query", [this](const httplib::Request& req, httplib::Response& res) {
            RecordedRequest rec{req.get_param_value("query"), req.get_param_value("time"),
                                req.get_header_value("Authorization")};
            CannedReply reply;
            {
                std::unique_lock lock(m_mutex);
                m_requests.push_back(rec);
                auto it = m_replies.find(rec.query);
                reply = it != m_replies.end()
                            ? it->second
                            : CannedReply{400, error_body("bad_data", "fake: no reply for this query")};
                if (reply.delay.count() > 0) {
                    m_wake.wait_for(lock, reply.delay, [this] { return m_stopping; });
                }
            }
            res.status = reply.status;
            res.set_content(reply.body, reply.content_type.c_str());
        });
        m_port = m_server.bind_to_any_port("127.0.0.1");
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
    }
    FakePrometheus(const FakePrometheus&) = delete;
    FakePrometheus& operator=(const FakePrometheus&) = delete;
    ~FakePrometheus() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_wake.notify_all();
        m_server.stop();
        m_thread.join();
    }

    void reply(const std::string& query, CannedReply r) {
        std::lock_guard lock(m_mutex);
        m_replies[query] = std::move(r);
    }
    [[nodiscard]] std::vector<RecordedRequest> requests() const {
        std::lock_guard lock(m_mutex);
        return m_requests;
    }
    [[nodiscard]] int port() const { return m_port; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    httplib::Server m_server;
    std::thread m_thread;
    int m_port = -1;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    std::map<std::string, CannedReply> m_replies;
    std::vector<RecordedRequest> m_requests;
};

// Binds 127.0.0.1:0 and returns the socket (fd) and its port; listening or not is the caller's choice.
inline int bind_loopback(int& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

// A port on 127.0.0.1 that nothing listens on: bound (so no one else takes it) but never listening, so a
// connection to it is refused.
class UnusedPort {
public:
    UnusedPort() : m_fd(bind_loopback(m_port)) {}
    UnusedPort(const UnusedPort&) = delete;
    UnusedPort& operator=(const UnusedPort&) = delete;
    ~UnusedPort() {
        if (m_fd >= 0) ::close(m_fd);
    }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    int m_port = 0;
    int m_fd;
};

// Accepts each connection, reads the request and closes the connection without a byte of reply.
class ClosingServer {
public:
    ClosingServer() : m_fd(bind_loopback(m_port)) {
        ::listen(m_fd, 8);
        m_thread = std::thread([this] {
            while (!m_stop) {
                const int client = ::accept(m_fd, nullptr, nullptr);
                if (client < 0) break;
                // Read the request first: closing with unread bytes would send a reset, not a clean close.
                std::string request;
                std::array<char, 1024> buffer{};
                while (request.find("\r\n\r\n") == std::string::npos) {
                    const ssize_t n = ::recv(client, buffer.data(), buffer.size(), 0);
                    if (n <= 0) break;
                    request.append(buffer.data(), static_cast<std::size_t>(n));
                }
                ::close(client);
            }
        });
    }
    ClosingServer(const ClosingServer&) = delete;
    ClosingServer& operator=(const ClosingServer&) = delete;
    ~ClosingServer() {
        m_stop = true;
        ::shutdown(m_fd, SHUT_RDWR);  // wakes accept()
        m_thread.join();
        ::close(m_fd);
    }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

private:
    int m_port = 0;
    int m_fd;
    std::atomic<bool> m_stop{false};
    std::thread m_thread;
};

}  // namespace joulepilot::sense::testing
