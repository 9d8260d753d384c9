#include "core/config.hpp"

#include <cmath>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace joulepilot::core {
namespace {

std::string line_of(const toml::node& node) {
    const auto& src = node.source();
    if (src.begin.line == 0) return "";
    return fmt::format(":{}", src.begin.line);
}

// Collects the full dotted paths of every leaf key (tables are walked, arrays are leaves).
void collect_leaves(const toml::table& table, const std::string& prefix, std::vector<std::string>& out,
                    std::vector<std::string>& lines) {
    for (const auto& [key, node] : table) {
        const std::string full = prefix + std::string(key.str());
        if (const auto* sub = node.as_table()) {
            collect_leaves(*sub, full + ".", out, lines);
        } else {
            out.push_back(full);
            lines.push_back(line_of(node));
        }
    }
}

}  // namespace

ConfigDocument::ConfigDocument() : m_root(std::make_unique<toml::table>()) {}
ConfigDocument::ConfigDocument(ConfigDocument&&) noexcept = default;
ConfigDocument& ConfigDocument::operator=(ConfigDocument&&) noexcept = default;
ConfigDocument::~ConfigDocument() = default;

ConfigDocument ConfigDocument::empty() {
    ConfigDocument doc;
    doc.m_source = "(defaults)";
    return doc;
}

ConfigDocument ConfigDocument::parse(std::string_view text, std::string source_name) {
    ConfigDocument doc;
    doc.m_source = std::move(source_name);
    try {
        *doc.m_root = toml::parse(text, doc.m_source);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("config {}:{}:{}: {}", doc.m_source, e.source().begin.line,
                                      e.source().begin.column, e.description()));
    }
    return doc;
}

ConfigDocument ConfigDocument::load(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw ConfigError(fmt::format("config {}: no such file (give the path of a TOML file; see docs/config.md)",
                                      path.string()));
    }
    ConfigDocument doc;
    doc.m_source = path.string();
    try {
        *doc.m_root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("config {}:{}:{}: {}", doc.m_source, e.source().begin.line,
                                      e.source().begin.column, e.description()));
    }
    return doc;
}

ConfigSection ConfigDocument::root() { return ConfigSection(this, m_root.get(), ""); }

void ConfigDocument::reject_unknown_keys() const {
    std::vector<std::string> leaves;
    std::vector<std::string> lines;
    collect_leaves(*m_root, "", leaves, lines);
    std::string unknown;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        if (m_used.count(leaves[i]) == 0) {
            unknown += fmt::format("\n  {}{}: unknown key '{}'", m_source, lines[i], leaves[i]);
        }
    }
    if (!unknown.empty()) {
        throw ConfigError(fmt::format("config {}: unknown keys (see docs/config.md for every key):{}", m_source,
                                      unknown));
    }
}

std::string ConfigSection::path_of(std::string_view key) const { return m_prefix + std::string(key); }

void ConfigSection::fail_at(std::string_view key, const std::string& what) const {
    std::string where = m_doc->source_name();
    if (m_table != nullptr) {
        if (const auto* node = m_table->get(key)) where += line_of(*node);
    }
    throw ConfigError(fmt::format("config {}: key '{}': {}", where, path_of(key), what));
}

bool ConfigSection::has(std::string_view key) const { return m_table != nullptr && m_table->contains(key); }

double ConfigSection::number(std::string_view key, double fallback, double min, double max) const {
    if (!has(key)) return fallback;
    const toml::node& node = *m_table->get(key);
    double value = 0;
    if (auto v = node.value_exact<double>()) {
        value = *v;
    } else if (auto i = node.value_exact<std::int64_t>()) {
        value = static_cast<double>(*i);
    } else {
        fail_at(key, "expected a number");
    }
    if (!std::isfinite(value) || value < min || value > max) {
        fail_at(key, fmt::format("{} is out of range; expected {} to {}", value, min, max));
    }
    m_doc->mark_used(path_of(key));
    return value;
}

std::int64_t ConfigSection::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                    std::int64_t max) const {
    if (!has(key)) return fallback;
    auto v = m_table->get(key)->value_exact<std::int64_t>();
    if (!v) fail_at(key, "expected an integer");
    if (*v < min || *v > max) fail_at(key, fmt::format("{} is out of range; expected {} to {}", *v, min, max));
    m_doc->mark_used(path_of(key));
    return *v;
}

bool ConfigSection::boolean(std::string_view key, bool fallback) const {
    if (!has(key)) return fallback;
    auto v = m_table->get(key)->value_exact<bool>();
    if (!v) fail_at(key, "expected true or false");
    m_doc->mark_used(path_of(key));
    return *v;
}

std::string ConfigSection::string(std::string_view key, std::string_view fallback,
                                  const std::vector<std::string>& allowed) const {
    if (!has(key)) return std::string(fallback);
    auto v = m_table->get(key)->value_exact<std::string>();
    if (!v) fail_at(key, "expected a string");
    if (!allowed.empty()) {
        bool ok = false;
        for (const auto& a : allowed) ok = ok || (a == *v);
        if (!ok) fail_at(key, fmt::format("'{}' is not one of: {}", *v, fmt::join(allowed, ", ")));
    }
    m_doc->mark_used(path_of(key));
    return *v;
}

std::vector<std::string> ConfigSection::keys() const {
    std::vector<std::string> out;
    if (m_table == nullptr) return out;
    for (const auto& [key, node] : *m_table) out.emplace_back(key.str());
    return out;
}

ConfigSection ConfigSection::section(std::string_view key) const {
    if (!has(key)) return ConfigSection(m_doc, nullptr, path_of(key) + ".");
    const auto* sub = m_table->get(key)->as_table();
    if (sub == nullptr) fail_at(key, "expected a table");
    return ConfigSection(m_doc, sub, path_of(key) + ".");
}

}  // namespace joulepilot::core
