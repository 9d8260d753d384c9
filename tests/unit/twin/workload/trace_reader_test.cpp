#include "twin/workload/trace_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::twin {
namespace {

const std::filesystem::path kFixtures = std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "traces";
const std::filesystem::path kData = std::filesystem::path(JOULEPILOT_DATA_DIR) / "azure-llm-2023";

// A file under the test temp dir, unique per process and call (other test binaries may run alongside),
// removed when the test is done with it.
class TempFile {
  public:
    TempFile(const std::string& content, const std::string& extension) {
        static std::atomic<int> counter{0};
        m_path = std::filesystem::path(::testing::TempDir()) /
                 fmt::format("jp_trace_reader_{}_{}{}", ::getpid(), counter++, extension);
        std::ofstream(m_path, std::ios::binary) << content;
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(m_path, ec);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return m_path; }

  private:
    std::filesystem::path m_path;
};

TEST(TraceReader, ReadsAzureCsvRelativeToTheFirstRequest) {
    // The fixture's last line has no trailing newline, like the real files.
    const auto workload = read_azure_csv(kFixtures / "azure_small.csv");
    ASSERT_TRUE(workload) << workload.error().message;
    ASSERT_EQ(workload->size(), 4U);
    EXPECT_DOUBLE_EQ((*workload)[0].arrival.value(), 0.0);
    EXPECT_NEAR((*workload)[1].arrival.value(), 4.3145790, 1e-9);
    EXPECT_NEAR((*workload)[2].arrival.value(), 4.3194100, 1e-9);
    EXPECT_NEAR((*workload)[3].arrival.value(), 60.0000001, 1e-9);  // 100 ns resolution survives
    EXPECT_EQ((*workload)[0].input_tokens, 374);
    EXPECT_EQ((*workload)[0].output_tokens, 44);
    EXPECT_EQ((*workload)[2].input_tokens, 0);  // an empty prompt is allowed, an empty output is not
    EXPECT_EQ((*workload)[2].output_tokens, 1);
    EXPECT_EQ((*workload)[3].input_tokens, 1200);
    EXPECT_EQ((*workload)[3].output_tokens, 7);
}

TEST(TraceReader, ReadsJsonlSortedAndRelativeToTheEarliestRequest) {
    const auto workload = read_jsonl(kFixtures / "requests_small.jsonl");
    ASSERT_TRUE(workload) << workload.error().message;
    ASSERT_EQ(workload->size(), 4U);
    EXPECT_DOUBLE_EQ((*workload)[0].arrival.value(), 0.0);
    EXPECT_EQ((*workload)[0].input_tokens, 80);
    EXPECT_NEAR((*workload)[1].arrival.value(), 1.2505, 1e-9);
    EXPECT_EQ((*workload)[1].input_tokens, 0);
    EXPECT_NEAR((*workload)[2].arrival.value(), 2.5, 1e-9);
    EXPECT_EQ((*workload)[2].output_tokens, 30);
    EXPECT_NEAR((*workload)[3].arrival.value(), 10.0, 1e-9);
    EXPECT_EQ((*workload)[3].input_tokens, 4096);
    EXPECT_EQ((*workload)[3].output_tokens, 512);
}

TEST(TraceReader, PicksTheFormatFromTheFirstNonEmptyLine) {
    const auto csv = read_trace_file(kFixtures / "azure_small.csv");
    ASSERT_TRUE(csv) << csv.error().message;
    EXPECT_EQ(csv->size(), 4U);
    EXPECT_EQ(csv->back().input_tokens, 1200);

    const auto jsonl = read_trace_file(kFixtures / "requests_small.jsonl");
    ASSERT_TRUE(jsonl) << jsonl.error().message;
    EXPECT_EQ(jsonl->size(), 4U);
    EXPECT_EQ(jsonl->back().input_tokens, 4096);

    // Blank lines and a UTF-8 byte order mark before the first object still mean JSONL.
    const TempFile padded("\xEF\xBB\xBF\n\n  {\"timestamp\": 5, \"input_length\": 3, \"output_length\": 2}\n",
                          ".txt");
    const auto sniffed = read_trace_file(padded.path());
    ASSERT_TRUE(sniffed) << sniffed.error().message;
    ASSERT_EQ(sniffed->size(), 1U);
    EXPECT_EQ(sniffed->front().input_tokens, 3);
}

TEST(TraceReader, ReadsTheShippedAzureTraces) {
    struct Expected {
        const char* file;
        std::size_t rows;
        double mean_input;
        double mean_output;
    };
    // Row counts and means from data/azure-llm-2023/README.md.
    for (const Expected& expected : {Expected{"AzureLLMInferenceTrace_conv.csv", 19366, 1154, 211},
                                     Expected{"AzureLLMInferenceTrace_code.csv", 8819, 2047, 27}}) {
        SCOPED_TRACE(expected.file);
        const auto workload = read_trace_file(kData / expected.file);
        ASSERT_TRUE(workload) << workload.error().message;
        ASSERT_EQ(workload->size(), expected.rows);
        EXPECT_DOUBLE_EQ(workload->front().arrival.value(), 0.0);
        EXPECT_TRUE(std::is_sorted(workload->begin(), workload->end(),
                                   [](const auto& a, const auto& b) { return a.arrival < b.arrival; }));
        double input = 0;
        double output = 0;
        for (const auto& request : *workload) {
            input += request.input_tokens;
            output += request.output_tokens;
            EXPECT_GE(request.output_tokens, 1);
        }
        EXPECT_NEAR(input / static_cast<double>(workload->size()), expected.mean_input, 1.0);
        EXPECT_NEAR(output / static_cast<double>(workload->size()), expected.mean_output, 1.0);
        // Both span just under an hour (18:15/18:17 to 19:14).
        EXPECT_GT(workload->back().arrival.value(), 3300.0);
        EXPECT_LT(workload->back().arrival.value(), 3600.0);
    }
}

enum class Reader { csv, jsonl, sniff };

struct BadInput {
    const char* name;
    Reader reader;
    std::string content;
    std::string where;     // ":<line>:" or "" when the error is about the whole file
    std::string expected;  // a part of the message that says what was expected
};

class TraceReaderRejects : public ::testing::TestWithParam<BadInput> {};

TEST_P(TraceReaderRejects, NamingFileLineAndWhatWasExpected) {
    const BadInput& input = GetParam();
    const TempFile file(input.content, input.reader == Reader::jsonl ? ".jsonl" : ".csv");
    const auto result = input.reader == Reader::csv     ? read_azure_csv(file.path())
                        : input.reader == Reader::jsonl ? read_jsonl(file.path())
                                                        : read_trace_file(file.path());
    ASSERT_FALSE(result) << "accepted " << input.name;
    const std::string& message = result.error().message;
    EXPECT_NE(message.find(file.path().string() + input.where), std::string::npos) << message;
    EXPECT_NE(message.find(input.expected), std::string::npos) << message;
}

std::string bad_input_name(const ::testing::TestParamInfo<BadInput>& param) { return param.param.name; }

const std::string kHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kRow = "2023-11-16 18:15:46.6805900,374,44\n";

INSTANTIATE_TEST_SUITE_P(
    BadCsv, TraceReaderRejects,
    ::testing::Values(
        BadInput{"empty", Reader::csv, "", ":", "empty file, expected the header"},
        BadInput{"header_only", Reader::csv, kHeader, ":", "no requests after the header"},
        BadInput{"wrong_header", Reader::csv, "time,in,out\n" + kRow, ":1:", "expected the header TIMESTAMP"},
        BadInput{"extra_column", Reader::csv, kHeader + "2023-11-16 18:15:46.6805900,374,44,9\n",
                 ":2:", "expected 3 fields"},
        BadInput{"truncated_last_line", Reader::csv, kHeader + kRow + "2023-11-16 18:15:50.9951690,39", ":3:",
                 "expected 3 fields (TIMESTAMP,ContextTokens,GeneratedTokens), found 2 (truncated row?)"},
        BadInput{"truncated_timestamp", Reader::csv, kHeader + kRow + "2023-11-16 18:1,374,44\n",
                 ":3:", "expected a TIMESTAMP like"},
        BadInput{"impossible_date", Reader::csv, kHeader + "2023-02-30 10:00:00.0000000,1,1\n",
                 ":2:", "expected a TIMESTAMP"},
        BadInput{"year_9999", Reader::csv, kHeader + "9999-11-16 10:00:00.0000000,1,1\n",
                 ":2:", "(years 1970 to 2199)"},
        BadInput{"hour_25", Reader::csv, kHeader + "2023-11-16 25:00:00.0000000,1,1\n",
                 ":2:", "expected a TIMESTAMP"},
        BadInput{"ten_fraction_digits", Reader::csv, kHeader + "2023-11-16 10:00:00.0123456789,1,1\n",
                 ":2:", "expected a TIMESTAMP"},
        BadInput{"garbage_tokens", Reader::csv, kHeader + "2023-11-16 18:15:46.6805900,37x,44\n",
                 ":2:", "expected an integer ContextTokens"},
        BadInput{"fractional_tokens", Reader::csv, kHeader + "2023-11-16 18:15:46.6805900,374,4.5\n",
                 ":2:", "expected an integer GeneratedTokens"},
        BadInput{"negative_tokens", Reader::csv, kHeader + kRow + "2023-11-16 18:15:47.0000000,-3,44\n",
                 ":3:", "ContextTokens must be >= 0, found -3"},
        BadInput{"zero_output", Reader::csv, kHeader + "2023-11-16 18:15:46.6805900,374,0\n",
                 ":2:", "GeneratedTokens must be >= 1"},
        BadInput{"too_many_tokens", Reader::csv, kHeader + "2023-11-16 18:15:46.6805900,99999999999,4\n",
                 ":2:", "ContextTokens must be <= 2147483647"}),
    bad_input_name);

INSTANTIATE_TEST_SUITE_P(
    BadJsonl, TraceReaderRejects,
    ::testing::Values(
        BadInput{"empty", Reader::jsonl, "\n\n", ":", "empty file, expected one JSON object per line"},
        BadInput{
            "truncated_last_line", Reader::jsonl,
            "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 3}\n{\"timestamp\": 2, \"input_len",
            ":2:", "malformed JSON at column"},
        BadInput{"not_json", Reader::jsonl, "{timestamp: 1}\n", ":1:", "expected one object per line like"},
        BadInput{"not_an_object", Reader::jsonl, "[1, 2, 3]\n", ":1:", "expected a JSON object"},
        BadInput{"missing_timestamp", Reader::jsonl, "{\"input_length\": 2, \"output_length\": 3}\n",
                 ":1:", "expected \"timestamp\" as a number of milliseconds"},
        BadInput{"huge_timestamp", Reader::jsonl,
                 "{\"timestamp\": 1e300, \"input_length\": 2, \"output_length\": 3}\n",
                 ":1:", "absolute value below 1e15"},
        BadInput{"string_timestamp", Reader::jsonl,
                 "{\"timestamp\": \"1\", \"input_length\": 2, \"output_length\": 3}\n",
                 ":1:", "\"timestamp\""},
        BadInput{"overflowing_number", Reader::jsonl,
                 "{\"timestamp\": 1e999, \"input_length\": 2, \"output_length\": 3}\n", ":1:", "JSON"},
        BadInput{"fractional_tokens", Reader::jsonl,
                 "{\"timestamp\": 1, \"input_length\": 2.5, \"output_length\": 3}\n",
                 ":1:", "expected \"input_length\" as an integer, found 2.5"},
        BadInput{"missing_output", Reader::jsonl, "{\"timestamp\": 1, \"input_length\": 2}\n",
                 ":1:", "missing \"output_length\""},
        BadInput{"negative_input", Reader::jsonl,
                 "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 3}\n"
                 "{\"timestamp\": 2, \"input_length\": -2, \"output_length\": 3}\n",
                 ":2:", "input_length must be >= 0"},
        BadInput{"zero_output", Reader::jsonl,
                 "{\"timestamp\": 1, \"input_length\": 2, \"output_length\": 0}\n",
                 ":1:", "output_length must be >= 1"}),
    bad_input_name);

INSTANTIATE_TEST_SUITE_P(
    BadAnyFormat, TraceReaderRejects,
    ::testing::Values(BadInput{"empty", Reader::sniff, "", ":", "empty file, expected"},
                      BadInput{"blank_lines", Reader::sniff, "\n  \n", ":", "empty file"},
                      BadInput{"bad_jsonl", Reader::sniff, "{\"timestamp\": 1}\n", ":1:", "input_length"},
                      BadInput{"bad_csv", Reader::sniff, "a,b\n", ":1:", "expected the header"}),
    bad_input_name);

TEST(TraceReader, ReportsAMissingFile) {
    const auto missing = kFixtures / "no_such_trace.csv";
    for (const auto& result : {read_azure_csv(missing), read_jsonl(missing), read_trace_file(missing)}) {
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().message, missing.string() + ": cannot open (no such file)");
    }
}

// Writes random requests in the Azure format (timestamps over ten days from a random date, so months and
// years roll over), reads them back and expects the same requests, sorted and relative to the earliest.
TEST(TraceReader, AzureCsvRoundTripsRandomRequests) {
    struct Row {
        std::int64_t ticks;  // 100 ns since the base day
        int input_tokens;
        int output_tokens;
    };
    const bool ok = rc::check("Azure CSV round trip", [] {
        const auto base_day = *rc::gen::inRange<std::int64_t>(0, 100 * 366);  // days after 2000-01-01
        const auto rows = *rc::gen::nonEmpty(rc::gen::container<std::vector<Row>>(rc::gen::build<Row>(
            rc::gen::set(&Row::ticks, rc::gen::inRange<std::int64_t>(0, 10LL * 86400 * 10'000'000)),
            rc::gen::set(&Row::input_tokens, rc::gen::inRange(0, 1'000'000)),
            rc::gen::set(&Row::output_tokens, rc::gen::inRange(1, 1'000'000)))));

        std::string content = "TIMESTAMP,ContextTokens,GeneratedTokens";
        const auto epoch_day =
            std::chrono::sys_days{std::chrono::year{2000} / 1 / 1} + std::chrono::days{base_day};
        for (const Row& row : rows) {
            const std::int64_t seconds = row.ticks / 10'000'000;
            const std::chrono::year_month_day date{epoch_day + std::chrono::days{seconds / 86400}};
            const std::int64_t in_day = seconds % 86400;
            content += fmt::format("\n{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:07},{},{}",
                                   static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                                   static_cast<unsigned>(date.day()), in_day / 3600, in_day / 60 % 60,
                                   in_day % 60, row.ticks % 10'000'000, row.input_tokens, row.output_tokens);
        }
        const TempFile file(content, ".csv");
        const auto workload = read_azure_csv(file.path());
        RC_ASSERT(workload.has_value());

        auto expected = rows;
        std::stable_sort(expected.begin(), expected.end(),
                         [](const Row& a, const Row& b) { return a.ticks < b.ticks; });
        RC_ASSERT(workload->size() == expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const double arrival_s = static_cast<double>(expected[i].ticks - expected.front().ticks) * 1e-7;
            RC_ASSERT(std::abs((*workload)[i].arrival.value() - arrival_s) <= 1e-9);
            RC_ASSERT((*workload)[i].input_tokens == expected[i].input_tokens);
            RC_ASSERT((*workload)[i].output_tokens == expected[i].output_tokens);
        }
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::twin
