#include "core/http/curl_easy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace joulepilot::core::http {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class TokenFile : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = std::filesystem::temp_directory_path() / ("jp_curl_token_" + std::to_string(::getpid()));
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    std::filesystem::path write(const std::string& content) const {
        const auto path = m_dir / "token";
        std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
        return path;
    }
    std::filesystem::path m_dir;
};

TEST_F(TokenFile, ReadsOneTokenWithoutTheTrailingNewline) {
    auto token = read_bearer_token(write("  s3cr3t-token\n"), "prom");
    ASSERT_TRUE(token.has_value()) << token.error().message;
    EXPECT_EQ(*token, "s3cr3t-token");
}

TEST_F(TokenFile, EmptyOrSeveralLinesNameTheFileAndTheFix) {
    const auto path = write(" \n");
    auto empty = read_bearer_token(path, "kube");
    ASSERT_FALSE(empty.has_value());
    EXPECT_THAT(empty.error().message, AllOf(HasSubstr("kube: bearer token file " + path.string()),
                                             HasSubstr("empty"), HasSubstr("exactly one token on one line")));
    auto several = read_bearer_token(write("one\ntwo\n"), "knobs");
    ASSERT_FALSE(several.has_value());
    EXPECT_THAT(several.error().message, AllOf(HasSubstr("knobs: bearer token file"),
                                               HasSubstr("several lines"), HasSubstr("one token")));
}

TEST_F(TokenFile, MissingFileSaysWhatToCheck) {
    const auto path = m_dir / "absent";
    auto missing = read_bearer_token(path, "prom");
    ASSERT_FALSE(missing.has_value());
    EXPECT_THAT(missing.error().message, AllOf(HasSubstr("prom: bearer token file " + path.string()),
                                               HasSubstr("cannot open"), HasSubstr("may read it")));
}

TEST(BodySink, StopsPastItsCap) {
    BodySink sink(8);
    std::string chunk = "abcde";
    EXPECT_EQ(append_body(chunk.data(), 1, chunk.size(), &sink), 5U);
    EXPECT_FALSE(sink.overflow);
    EXPECT_EQ(append_body(chunk.data(), 1, chunk.size(), &sink), 0U);  // 10 bytes > 8: libcurl stops
    EXPECT_TRUE(sink.overflow);
    EXPECT_EQ(sink.data, "abcde");
    BodySink exact(10);
    EXPECT_EQ(append_body(chunk.data(), 5, 1, &exact), 5U);
    EXPECT_EQ(append_body(chunk.data(), 5, 1, &exact), 5U);
    EXPECT_FALSE(exact.overflow);
    EXPECT_EQ(exact.data, "abcdeabcde");
}

TEST(UrlEscape, EncodesAllButUnreservedCharacters) {
    EXPECT_EQ(url_escape(R"(up{job="a b"}[1m]+1)"), "up%7Bjob%3D%22a%20b%22%7D%5B1m%5D%2B1");
    EXPECT_EQ(url_escape("app=web,tier!=db"), "app%3Dweb%2Ctier%21%3Ddb");
    EXPECT_EQ(url_escape("Az09-._~"), "Az09-._~");
    EXPECT_EQ(url_escape(""), "");
}

TEST(CurlEasy, MakesAHandle) {
    auto curl = CurlEasy::create("test");
    ASSERT_TRUE(curl.has_value()) << curl.error().message;
    EXPECT_NE(curl->get(), nullptr);
    CurlEasy moved = std::move(*curl);
    EXPECT_NE(moved.get(), nullptr);
}

}  // namespace
}  // namespace joulepilot::core::http
