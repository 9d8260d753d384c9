// The bearer check of mutating calls: the constant-time comparison, the token file's checks and messages.
#include "serve/bearer_auth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace joulepilot::serve {
namespace {

std::filesystem::path write_token(const std::string& name, const std::string& text) {
    const auto path =
        std::filesystem::temp_directory_path() / ("jp-bearer-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream(path) << text;
    return path;
}

TEST(ConstantTimeEqual, ComparesContentsOfAnyLength) {
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("abc", ""));
    EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(ReadTokenFile, TrimsTheNewlineAndChecksTheToken) {
    const auto good = write_token("good", "0123456789abcdef0123\n");
    auto token = read_token_file(good);
    ASSERT_TRUE(token) << token.error().message;
    EXPECT_EQ(*token, "0123456789abcdef0123");

    auto missing = read_token_file("/nonexistent/jp/token");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("/nonexistent/jp/token: cannot read it"), std::string::npos);
    EXPECT_NE(missing.error().message.find("head -c 32 /dev/urandom"), std::string::npos);

    auto short_token = read_token_file(write_token("short", "abc"));
    ASSERT_FALSE(short_token);
    EXPECT_NE(short_token.error().message.find("fewer than 16"), std::string::npos);

    auto spaced = read_token_file(write_token("spaced", "0123456789 abcdef0123"));
    ASSERT_FALSE(spaced);
    EXPECT_NE(spaced.error().message.find("whitespace"), std::string::npos);
    for (const char* name : {"good", "short", "spaced"}) {
        std::filesystem::remove(std::filesystem::temp_directory_path() /
                                ("jp-bearer-" + std::to_string(::getpid()) + "-" + name));
    }
}

TEST(BearerAuth, AnswersEachCase) {
    const auto file = write_token("auth", "0123456789abcdef0123\n");
    const BearerAuth auth(file);
    EXPECT_TRUE(auth.enabled());
    EXPECT_TRUE(auth.validate());
    EXPECT_FALSE(auth.check("Bearer 0123456789abcdef0123").has_value());
    EXPECT_FALSE(auth.check("BEARER 0123456789abcdef0123").has_value());
    EXPECT_EQ(auth.check("")->code, ErrorCode::unauthorized);
    EXPECT_EQ(auth.check("Bearer ")->code, ErrorCode::unauthorized);
    EXPECT_EQ(auth.check("Basic 0123456789abcdef0123")->code, ErrorCode::unauthorized);
    EXPECT_EQ(auth.check("Bearer 0123456789abcdef012")->code, ErrorCode::unauthorized);
    EXPECT_EQ(auth.check("Bearer 0123456789abcdef0123 ")->code, ErrorCode::unauthorized);

    // The file is read at every check: an unreadable file is the agent's problem (500), said so.
    std::filesystem::remove(file);
    const auto gone = auth.check("Bearer 0123456789abcdef0123");
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->code, ErrorCode::internal);
    EXPECT_NE(gone->message.find("cannot read"), std::string::npos);

    const BearerAuth off{std::filesystem::path{}};
    EXPECT_FALSE(off.enabled());
    EXPECT_TRUE(off.validate());
    const auto refused = off.check("Bearer anything-at-all-here");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->code, ErrorCode::forbidden);
    EXPECT_NE(refused->message.find("token_file"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::serve
