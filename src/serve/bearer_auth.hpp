#pragma once
// BearerAuth: the check in front of every mutating API call (POST /v1/optimize, POST /v1/rollback,
// PUT /v1/policy, POST /v1/requests). The token lives in a file (config `[api] token_file`), read again at
// every check so a rotated token (a Kubernetes secret, `systemctl reload`) takes effect at once. The
// presented token is compared in constant time: both sides are hashed with SHA-256 and the digests
// compared with OpenSSL's CRYPTO_memcmp, so neither the content nor the length of the token leaks
// through timing. Without a token file every mutating call is refused (403) with how to configure one.
// Thread-safe: const after construction; called from the server's worker threads.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "serve/api_types.hpp"

namespace joulepilot::serve {

// True when a == b; time depends on neither the contents nor the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

// Shortest token accepted from the file: anything shorter can be guessed.
inline constexpr std::size_t kMinTokenLength = 16;

// Reads and checks the token file: "api: token_file /etc/joulepilot/token: ..." on failure.
core::Result<std::string> read_token_file(const std::filesystem::path& path);

class BearerAuth {
public:
    using Compare = bool (*)(std::string_view, std::string_view);

    // `compare` is constant_time_equal; tests pass a counting wrapper to see it is used for every check.
    explicit BearerAuth(std::filesystem::path token_file, Compare compare = &constant_time_equal);

    // Checks the file once at start so a bad path fails the start, not the first call.
    [[nodiscard]] core::Result<void> validate() const;
    // nullopt: allowed. Otherwise the error to answer (403 no token configured, 401 missing or wrong
    // token, 500 token file unreadable now).
    [[nodiscard]] std::optional<ApiError> check(std::string_view authorization_header) const;
    [[nodiscard]] bool enabled() const { return !m_token_file.empty(); }

private:
    std::filesystem::path m_token_file;
    Compare m_compare;
};

}  // namespace joulepilot::serve
