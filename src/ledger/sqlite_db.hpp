#pragma once
// Thin RAII handles over the SQLite C API for the ledger: a connection (Database) and a prepared
// statement (Statement). Errors come back as Result with SQLite's message and the file's path. Not
// thread-safe: each connection belongs to one thread at a time (the writer thread, or a reader under
// its mutex). Used only inside src/ledger.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace joulepilot::ledger::detail {

class Database;

class Statement {
public:
    Statement() = default;
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Bind by 1-based index; chained calls are cheap (no error returned: a bind can fail only on a
    // bad index, a programming error that step() then reports).
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view value);
    Statement& bind(int index, std::span<const std::uint8_t> blob);  // copied, like text
    Statement& bind_null(int index);

    // true: a row is ready; false: done. The error names the statement's SQL and the file.
    core::Result<bool> step();
    // Runs to completion (for writes).
    core::Result<void> run();
    void reset();

    [[nodiscard]] std::int64_t int64(int column) const;
    [[nodiscard]] double real(int column) const;
    [[nodiscard]] std::string text(int column) const;
    // The column's bytes, valid until the next step() or reset() of this statement.
    [[nodiscard]] std::span<const std::uint8_t> blob(int column) const;
    [[nodiscard]] bool is_null(int column) const;
    [[nodiscard]] int column_count() const;
    [[nodiscard]] std::string column_name(int column) const;
    // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
    [[nodiscard]] int column_type(int column) const;

private:
    friend class Database;
    explicit Statement(sqlite3_stmt* stmt) : m_stmt(stmt) {}
    sqlite3_stmt* m_stmt = nullptr;
};

// The last SQLite error code class of a failed operation, to tell a busy/full database (retry later)
// from a corrupt or foreign file (refuse).
// `data`: the record itself was refused (constraint, type, size); retrying it cannot help.
enum class Failure : std::uint8_t { none, busy, full, not_a_database, permission, data, other };

class Database {
public:
    enum class Mode : std::uint8_t { read_write_create, read_only };

    static core::Result<Database> open(const std::filesystem::path& path, Mode mode);
    Database() = default;
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    core::Result<void> exec(std::string_view sql);
    core::Result<Statement> prepare(std::string_view sql) const;
    // The first column of the first row as an integer (e.g. PRAGMA user_version); nullopt for no row.
    core::Result<std::optional<std::int64_t>> scalar(std::string_view sql) const;

    [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
    [[nodiscard]] sqlite3* handle() const { return m_db; }
    // The class of the most recent failure on this connection.
    [[nodiscard]] Failure last_failure() const;
    // "ledger /var/lib/joulepilot/ledger.db: <what>: <sqlite message>"
    [[nodiscard]] core::Error error(std::string_view what) const;
    [[nodiscard]] std::int64_t changes() const;

private:
    Database(sqlite3* db, std::filesystem::path path) : m_db(db), m_path(std::move(path)) {}
    sqlite3* m_db = nullptr;
    std::filesystem::path m_path;
};

// Classifies a SQLite result code.
Failure classify(int sqlite_code);

}  // namespace joulepilot::ledger::detail
