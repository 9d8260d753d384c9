#include "serve/bearer_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/log.hpp"

namespace joulepilot::serve {

bool constant_time_equal(std::string_view a, std::string_view b) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> da{};
    std::array<unsigned char, SHA256_DIGEST_LENGTH> db{};
    SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da.data());
    SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db.data());
    return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

core::Result<std::string> read_token_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::fail(
            fmt::format("api: token_file {}: cannot read it: {} (create it with "
                        "`head -c 32 /dev/urandom | base64 > {}` and chmod 600)",
                        path.string(), std::strerror(errno), path.string()));
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    // A trailing newline (echo, editors) is not part of the token.
    while (!token.empty() &&
           (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
        token.pop_back();
    }
    if (token.size() < kMinTokenLength) {
        return core::fail(
            fmt::format("api: token_file {}: the token has {} characters, fewer than {}; write a "
                        "random one: `head -c 32 /dev/urandom | base64 > {}`",
                        path.string(), token.size(), kMinTokenLength, path.string()));
    }
    for (const char c : token) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return core::fail(
                fmt::format("api: token_file {}: the token contains whitespace or control "
                            "characters; it must be one line of printable characters",
                            path.string()));
        }
    }
    return token;
}

BearerAuth::BearerAuth(std::filesystem::path token_file, Compare compare)
    : m_token_file(std::move(token_file)), m_compare(compare) {}

core::Result<void> BearerAuth::validate() const {
    if (!enabled()) return {};
    auto token = read_token_file(m_token_file);
    if (!token) return tl::unexpected(token.error());
    std::error_code ec;
    const auto perms = std::filesystem::status(m_token_file, ec).permissions();
    if (!ec && (perms & (std::filesystem::perms::group_read | std::filesystem::perms::others_read)) !=
                   std::filesystem::perms::none) {
        spdlog::warn("api: token_file {} is readable by group or others; chmod 600 it",
                     m_token_file.string());
    }
    return {};
}

std::optional<ApiError> BearerAuth::check(std::string_view authorization_header) const {
    if (!enabled()) {
        return ApiError{
            ErrorCode::forbidden,
            "mutating calls are disabled: no API token is configured; set `token_file` in the [api] "
            "section of the config to a file holding a random token (e.g. `head -c 32 /dev/urandom "
            "| base64 > /etc/joulepilot/api-token`), restart the agent, and send `Authorization: "
            "Bearer <token>`",
            {}};
    }
    constexpr std::string_view kScheme = "bearer ";
    std::string_view presented;
    if (authorization_header.size() > kScheme.size()) {
        bool scheme_ok = true;
        for (std::size_t i = 0; i < kScheme.size(); ++i) {
            const char c = authorization_header[i];
            const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            scheme_ok = scheme_ok && lower == kScheme[i];
        }
        if (scheme_ok) presented = authorization_header.substr(kScheme.size());
    }
    if (presented.empty()) {
        return ApiError{
            ErrorCode::unauthorized,
            "this call changes the agent and needs `Authorization: Bearer <token>` with the token "
            "from the file named by [api] token_file",
            {}};
    }
    auto token = read_token_file(m_token_file);
    if (!token) {
        return ApiError{
            ErrorCode::internal, token.error().message + "; fix the file, it is read at every call", {}};
    }
    if (!m_compare(presented, *token)) {
        return ApiError{ErrorCode::unauthorized,
                        "wrong bearer token: it does not match the one in [api] token_file (was it rotated?)",
                        {}};
    }
    return std::nullopt;
}

}  // namespace joulepilot::serve
