#pragma once
// A small CSV reader shared by every data reader (traces, calibration data, grid series), so that each
// reports bad input the same way: "<file>:<line>: <what>". Handles quoted fields and CRLF; no embedded
// newlines in fields (none of our data sets has them).

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace joulepilot::core {

// Splits one CSV line into fields ("a,\"b,c\",d" -> a | b,c | d). Quotes are removed.
std::vector<std::string> split_csv_line(std::string_view line);

// Parses a whole field as a finite double / integer; nullopt for anything else (empty, "nan", "12x").
std::optional<double> parse_double(std::string_view text);
std::optional<long long> parse_integer(std::string_view text);

class CsvReader {
public:
    // Fails with "<path>: cannot open (...)" when the file cannot be read.
    static Result<CsvReader> open(const std::filesystem::path& path);

    // Reads the next non-empty row into `fields`; false at end of file.
    bool next(std::vector<std::string>& fields);
    // 1-based line number of the row last returned by next().
    [[nodiscard]] std::size_t line() const { return m_line; }
    [[nodiscard]] const std::string& name() const { return m_name; }
    // "<file>:<line>: <what>", for errors about the current row.
    [[nodiscard]] Error error(std::string_view what) const;

private:
    CsvReader(std::ifstream in, std::string name) : m_in(std::move(in)), m_name(std::move(name)) {}
    std::ifstream m_in;
    std::string m_name;
    std::size_t m_line = 0;
    std::string m_buffer;
};

}  // namespace joulepilot::core
