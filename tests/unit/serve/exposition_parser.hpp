#pragma once
// Test helper: a strict reader of the Prometheus text exposition format (0.0.4), enough to check what
// /metrics serves: every line is a comment (# HELP / # TYPE) or `name{label="value",...} number`, label
// values use only the escapes \\ \" \n, every sample's family has a TYPE line before it, and counters
// end in _total. Returns the samples, or the first malformed line with its number.

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace joulepilot::serve::testing {

struct ParsedSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct ParsedExposition {
    std::vector<ParsedSample> samples;
    std::map<std::string, std::string> types;  // family -> counter | gauge | ...
    std::map<std::string, std::string> help;

    [[nodiscard]] std::optional<double> value(const std::string& name,
                                              const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& s : samples) {
            if (s.name != name) continue;
            bool match = true;
            for (const auto& [k, v] : labels) {
                auto it = s.labels.find(k);
                match = match && it != s.labels.end() && it->second == v;
            }
            if (match) return s.value;
        }
        return std::nullopt;
    }
};

inline bool metric_name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

inline tl::expected<ParsedExposition, std::string> parse_exposition(const std::string& text) {
    ParsedExposition out;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    const auto bad = [&](const std::string& why) {
        return tl::unexpected(std::string("line ") + std::to_string(number) + ": " + why + ": " + line);
    };
    while (std::getline(in, line)) {
        ++number;
        if (line.empty()) continue;
        if (line.rfind("# ", 0) == 0) {
            std::istringstream words(line.substr(2));
            std::string kind;
            std::string family;
            words >> kind >> family;
            std::string rest;
            std::getline(words, rest);
            if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
            if (kind == "TYPE") {
                if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
                    rest != "untyped") {
                    return bad("unknown type");
                }
                if (out.types.count(family)) return bad("second TYPE line for the family");
                out.types[family] = rest;
                if (rest == "counter" &&
                    (family.size() < 6 || family.substr(family.size() - 6) != "_total")) {
                    return bad("a counter's name must end in _total");
                }
            } else if (kind == "HELP") {
                if (rest.empty()) return bad("empty HELP");
                out.help[family] = rest;
            }
            continue;
        }
        ParsedSample sample;
        std::size_t i = 0;
        while (i < line.size() && metric_name_char(line[i], i == 0)) ++i;
        if (i == 0) return bad("no metric name");
        sample.name = line.substr(0, i);
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                const std::size_t start = i;
                while (i < line.size() && metric_name_char(line[i], i == start)) ++i;
                const std::string label = line.substr(start, i - start);
                if (label.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
                    return bad("bad label");
                }
                i += 2;
                std::string value;
                while (i < line.size() && line[i] != '"') {
                    if (line[i] == '\\') {
                        if (i + 1 >= line.size()) return bad("dangling escape");
                        const char e = line[i + 1];
                        if (e == 'n') {
                            value += '\n';
                        } else if (e == '\\' || e == '"') {
                            value += e;
                        } else {
                            return bad("bad escape");
                        }
                        i += 2;
                    } else {
                        value += line[i++];
                    }
                }
                if (i >= line.size()) return bad("unterminated label value");
                ++i;  // closing quote
                if (sample.labels.count(label)) return bad("label given twice");
                sample.labels[label] = value;
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (i >= line.size()) return bad("unterminated label set");
            ++i;  // }
        }
        if (i >= line.size() || line[i] != ' ') return bad("no space before the value");
        const std::string number_text = line.substr(i + 1);
        const std::string first_word = number_text.substr(0, number_text.find(' '));
        char* end = nullptr;
        sample.value = std::strtod(first_word.c_str(), &end);
        if (first_word.empty() || end != first_word.c_str() + first_word.size())
            return bad("value is not a number");
        if (!out.types.count(sample.name)) return bad("sample before its TYPE line");
        out.samples.push_back(std::move(sample));
    }
    return out;
}

}  // namespace joulepilot::serve::testing
