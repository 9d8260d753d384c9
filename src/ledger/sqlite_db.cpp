// RAII handles over the SQLite C API (see sqlite_db.hpp).

#include "ledger/sqlite_db.hpp"

#include <utility>

#include <sqlite3.h>

namespace joulepilot::ledger::detail {

Failure classify(int sqlite_code) {
    switch (sqlite_code & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
            return Failure::none;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return Failure::busy;
        case SQLITE_FULL:
            return Failure::full;
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
            return Failure::not_a_database;
        case SQLITE_PERM:
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_AUTH:
            return Failure::permission;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_TOOBIG:
        case SQLITE_RANGE:
            return Failure::data;
        default:
            return Failure::other;
    }
}

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept : m_stmt(std::exchange(other.m_stmt, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_stmt = std::exchange(other.m_stmt, nullptr);
    }
    return *this;
}

Statement::~Statement() { sqlite3_finalize(m_stmt); }

Statement& Statement::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(m_stmt, index, value);
    return *this;
}

Statement& Statement::bind(int index, double value) {
    sqlite3_bind_double(m_stmt, index, value);
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    // SQLITE_TRANSIENT: SQLite copies, so the caller's buffer may go away before step().
    sqlite3_bind_text(m_stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> blob) {
    sqlite3_bind_blob64(m_stmt, index, blob.data(), blob.size(), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(m_stmt, index);
    return *this;
}

core::Result<bool> Statement::step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(m_stmt);
    const char* sql = sqlite3_sql(m_stmt);
    const char* file = sqlite3_db_filename(db, "main");
    std::string message = "ledger " + std::string(file != nullptr ? file : "?") + ": statement \"" +
                          std::string(std::string_view(sql != nullptr ? sql : "").substr(0, 60)) +
                          "\": " + sqlite3_errmsg(db);
    // reset() keeps the error code for Database::last_failure().
    sqlite3_reset(m_stmt);
    return core::fail(std::move(message));
}

core::Result<void> Statement::run() {
    for (;;) {
        auto row = step();
        if (!row) {
            return tl::unexpected(row.error());
        }
        if (!*row) break;
    }
    sqlite3_reset(m_stmt);
    return {};
}

void Statement::reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(m_stmt, column); }
double Statement::real(int column) const { return sqlite3_column_double(m_stmt, column); }

std::string Statement::text(int column) const {
    const auto* data = sqlite3_column_text(m_stmt, column);
    const int size = sqlite3_column_bytes(m_stmt, column);
    if (data == nullptr) return {};
    return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)};
}

std::span<const std::uint8_t> Statement::blob(int column) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(m_stmt, column));
    const int size = sqlite3_column_bytes(m_stmt, column);
    if (data == nullptr) return {};
    return {data, static_cast<std::size_t>(size)};
}

bool Statement::is_null(int column) const { return sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }
int Statement::column_count() const { return sqlite3_column_count(m_stmt); }
std::string Statement::column_name(int column) const {
    const char* name = sqlite3_column_name(m_stmt, column);
    return name != nullptr ? name : "";
}
int Statement::column_type(int column) const { return sqlite3_column_type(m_stmt, column); }

// ---- Database ----

core::Result<Database> Database::open(const std::filesystem::path& path, Mode mode) {
    sqlite3* db = nullptr;
    const int flags =
        (mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = "ledger " + path.string() +
                              ": cannot open: " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        if (classify(rc) == Failure::permission) {
            message += " (check that the file and its folder exist and are readable" +
                       std::string(mode == Mode::read_only ? "" : " and writable") +
                       " by this user, or set [ledger] path / --ledger to another file)";
        }
        return core::fail(std::move(message));
    }
    sqlite3_extended_result_codes(db, 1);
    return Database(db, path);
}

Database::Database(Database&& other) noexcept
    : m_db(std::exchange(other.m_db, nullptr)), m_path(std::move(other.m_path)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
        m_path = std::move(other.m_path);
    }
    return *this;
}

Database::~Database() { sqlite3_close_v2(m_db); }

core::Result<void> Database::exec(std::string_view sql) {
    const std::string text(sql);
    char* message = nullptr;
    const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string error = "ledger " + m_path.string() + ": " + std::string(text.substr(0, 60)) + ": " +
                            (message != nullptr ? message : sqlite3_errstr(rc));
        sqlite3_free(message);
        return core::fail(std::move(error));
    }
    return {};
}

core::Result<Statement> Database::prepare(std::string_view sql) const {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(m_db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        return tl::unexpected(error("prepare \"" + std::string(sql.substr(0, 60)) + "\""));
    }
    return Statement(stmt);
}

core::Result<std::optional<std::int64_t>> Database::scalar(std::string_view sql) const {
    auto stmt = prepare(sql);
    if (!stmt) return tl::unexpected(stmt.error());
    auto row = stmt->step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(stmt->int64(0));
}

Failure Database::last_failure() const { return classify(sqlite3_extended_errcode(m_db)); }

core::Error Database::error(std::string_view what) const {
    return core::Error{"ledger " + m_path.string() + ": " + std::string(what) + ": " + sqlite3_errmsg(m_db)};
}

std::int64_t Database::changes() const { return sqlite3_changes64(m_db); }

}  // namespace joulepilot::ledger::detail
