#include "core/csv.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace joulepilot::core {
namespace {

TEST(Csv, SplitsQuotedFieldsAndStripsCarriageReturns) {
    const auto fields = split_csv_line("a,\"b,c\",\"say \"\"hi\"\"\",\r");
    ASSERT_EQ(fields.size(), 4u);
    EXPECT_EQ(fields[0], "a");
    EXPECT_EQ(fields[1], "b,c");
    EXPECT_EQ(fields[2], "say \"hi\"");
    EXPECT_EQ(fields[3], "");
}

TEST(Csv, ParsesOnlyWholeFiniteNumbers) {
    EXPECT_EQ(parse_double(" 1.5 "), 1.5);
    EXPECT_EQ(parse_double("-2e3"), -2000);
    EXPECT_FALSE(parse_double(""));
    EXPECT_FALSE(parse_double("12x"));
    EXPECT_FALSE(parse_double("nan"));
    EXPECT_FALSE(parse_double("inf"));
    EXPECT_EQ(parse_integer("42"), 42);
    EXPECT_FALSE(parse_integer("4.2"));
}

TEST(Csv, ReaderSkipsBlankLinesAndReportsLineNumbers) {
    const auto path = std::filesystem::temp_directory_path() / "joulepilot_csv_test.csv";
    {
        std::ofstream out(path);
        out << "h1,h2\r\n\r\n1,2\n3,4";  // no trailing newline
    }
    auto reader = CsvReader::open(path);
    ASSERT_TRUE(reader);
    std::vector<std::string> fields;
    ASSERT_TRUE(reader->next(fields));
    EXPECT_EQ(reader->line(), 1u);
    ASSERT_TRUE(reader->next(fields));
    EXPECT_EQ(reader->line(), 3u);
    EXPECT_EQ(fields[1], "2");
    ASSERT_TRUE(reader->next(fields));
    EXPECT_EQ(fields[0], "3");
    EXPECT_NE(reader->error("bad").message.find(":4: bad"), std::string::npos);
    EXPECT_FALSE(reader->next(fields));
    std::filesystem::remove(path);
}

TEST(Csv, MissingFileIsAnErrorNamingIt) {
    auto reader = CsvReader::open("/nonexistent/x.csv");
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message.find("/nonexistent/x.csv: cannot open (no such file)"), std::string::npos);
}

}  // namespace
}  // namespace joulepilot::core
