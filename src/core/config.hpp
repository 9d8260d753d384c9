#pragma once
// TOML configuration with validation. Every reader of the config asks for its keys with a default and
// bounds; a value out of range or of the wrong type is an error naming the file, line and key, and after
// all readers ran, `reject_unknown_keys()` fails on any key nobody asked for (typos are errors, never
// silently ignored). Config errors happen at start-up, so they throw ConfigError; the CLI prints the
// message and exits non-zero. Not thread-safe: read the config once, on one thread, at start.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace joulepilot::core {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ConfigDocument;

// A view of one table of the document, e.g. [twin] or [twin.fleet].
class ConfigSection {
public:
    [[nodiscard]] bool has(std::string_view key) const;
    [[nodiscard]] double number(std::string_view key, double fallback, double min, double max) const;
    [[nodiscard]] std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                       std::int64_t max) const;
    [[nodiscard]] bool boolean(std::string_view key, bool fallback) const;
    // `allowed` empty means any string.
    [[nodiscard]] std::string string(std::string_view key, std::string_view fallback,
                                     const std::vector<std::string>& allowed = {}) const;
    // A missing sub-table reads as an empty section (all defaults).
    [[nodiscard]] ConfigSection section(std::string_view key) const;
    // The keys of this table in file order (for tables keyed by user-chosen names, e.g. knob patterns).
    [[nodiscard]] std::vector<std::string> keys() const;
    [[nodiscard]] std::string path_of(std::string_view key) const;

private:
    friend class ConfigDocument;
    ConfigSection(ConfigDocument* doc, const toml::table* table, std::string prefix)
        : m_doc(doc), m_table(table), m_prefix(std::move(prefix)) {}
    [[noreturn]] void fail_at(std::string_view key, const std::string& what) const;

    ConfigDocument* m_doc;
    const toml::table* m_table;  // null for a missing section
    std::string m_prefix;        // "twin." for [twin], "" for the root
};

class ConfigDocument {
public:
    // Throws ConfigError naming the file (and line for syntax errors) when it cannot be read or parsed.
    static ConfigDocument load(const std::filesystem::path& path);
    static ConfigDocument parse(std::string_view text, std::string source_name);
    // An empty document: every reader gets its defaults.
    static ConfigDocument empty();

    ConfigDocument(ConfigDocument&&) noexcept;
    ConfigDocument& operator=(ConfigDocument&&) noexcept;
    ~ConfigDocument();

    [[nodiscard]] ConfigSection root();
    // Throws ConfigError listing every key no reader asked for.
    void reject_unknown_keys() const;
    [[nodiscard]] const std::string& source_name() const { return m_source; }

private:
    friend class ConfigSection;
    ConfigDocument();
    void mark_used(const std::string& full_key) { m_used.insert(full_key); }

    std::unique_ptr<toml::table> m_root;
    std::string m_source;
    std::set<std::string> m_used;
};

}  // namespace joulepilot::core
