#pragma once
// Shared helpers of the ledger tests: a temporary folder removed at the end of each test, options with
// periodic compaction off (tests call compact()), and a raw SQLite connection for tampering and locks.

#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "ledger/ledger.hpp"

namespace joulepilot::testing {

class TempFolder {
public:
    TempFolder() {
        std::string pattern = (std::filesystem::temp_directory_path() / "joulepilot-ledger-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = pattern;
    }
    ~TempFolder() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempFolder(const TempFolder&) = delete;
    TempFolder& operator=(const TempFolder&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
    [[nodiscard]] std::filesystem::path file(const std::string& name) const { return m_path / name; }

private:
    std::filesystem::path m_path;
};

inline ledger::LedgerOptions test_options(const std::filesystem::path& path) {
    ledger::LedgerOptions options;
    options.path = path;
    options.compaction_interval = core::Seconds(0);
    options.batch_interval = std::chrono::milliseconds(5);
    return options;
}

inline std::unique_ptr<ledger::Ledger> open_or_die(ledger::LedgerOptions options) {
    auto opened = ledger::Ledger::open(std::move(options));
    if (!opened) throw std::runtime_error(opened.error().message);
    return std::move(*opened);
}

// A plain SQLite connection to the same file, as another process (or an attacker) would have.
class RawConnection {
public:
    explicit RawConnection(const std::filesystem::path& path) {
        if (sqlite3_open(path.c_str(), &m_db) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
    }
    ~RawConnection() { sqlite3_close(m_db); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;
    // SQLite's result code of running `sql`.
    int exec(const std::string& sql) { return sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, nullptr); }
    void exec_or_fail(const std::string& sql) {
        ASSERT_EQ(exec(sql), SQLITE_OK) << sql << ": " << sqlite3_errmsg(m_db);
    }

private:
    sqlite3* m_db = nullptr;
};

}  // namespace joulepilot::testing
