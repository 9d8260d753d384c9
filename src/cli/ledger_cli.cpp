// Helpers shared by the `ledger`, `audit` and `schedule run` commands (see ledger_cli.hpp).

#include "cli/ledger_cli.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>

#include "core/civil_time.hpp"
#include "core/config.hpp"
#include "core/csv.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::cli {

core::Result<std::string> resolve_ledger_path(const LedgerLocation& location) {
    if (!location.ledger_path.empty()) return location.ledger_path;
    if (location.config_path.empty()) return std::string(ledger::kDefaultLedgerPath);
    try {
        auto doc = core::ConfigDocument::load(location.config_path);
        const auto options =
            ledger::read_ledger_options(doc.root().section("ledger"), ledger::kDefaultLedgerPath);
        return options.path.string();
    } catch (const core::ConfigError& error) {
        return core::fail(error.what());
    }
}

std::pair<CLI::Option*, CLI::Option*> add_ledger_location(CLI::App* command, LedgerLocation& location,
                                                          const std::string& what) {
    CLI::Option* ledger_option =
        command
            ->add_option("--ledger", location.ledger_path,
                         what + " (default: [ledger] path of --config, else " + ledger::kDefaultLedgerPath + ")")
            ->option_text("FILE");
    CLI::Option* config_option =
        command->add_option("--config", location.config_path, "Config file whose [ledger] path to use")
            ->option_text("FILE");
    return {ledger_option, config_option};
}

std::unique_ptr<ledger::LedgerReader> open_ledger_reader(const LedgerLocation& location, std::string* path) {
    auto resolved = resolve_ledger_path(location);
    if (!resolved) {
        std::cerr << "error: " << resolved.error().message << "\n";
        return nullptr;
    }
    if (path != nullptr) *path = *resolved;
    auto reader = ledger::LedgerReader::open(*resolved);
    if (!reader) {
        std::cerr << "error: " << reader.error().message << "\n";
        return nullptr;
    }
    return std::move(*reader);
}

core::Result<std::int64_t> parse_time_ms(const std::string& text, std::int64_t now_ms) {
    if (!text.empty() && text.front() == '@') {
        const auto seconds = core::parse_double(std::string_view(text).substr(1));
        if (!seconds || !std::isfinite(*seconds)) {
            return core::fail("time '" + text + "': after '@' give Unix seconds, e.g. @1700000000");
        }
        return ledger::to_ms(core::Seconds(*seconds));
    }
    if (text.size() >= 10 && text[4] == '-') {
        auto unix_s = core::parse_utc_timestamp(text);
        if (!unix_s) return tl::unexpected(unix_s.error());
        return ledger::to_ms(core::Seconds(*unix_s));
    }
    auto ago = core::parse_duration_s(text);
    if (!ago) {
        return core::fail(
            "time '" + text +
            "': give a UTC time (2026-11-22T10:00:00Z), Unix seconds (@1700000000) or how long ago "
            "(90s, 30m, 2h, 1d)");
    }
    return now_ms - ledger::to_ms(core::Seconds(*ago));
}

std::string format_time_ms(std::int64_t t_ms) {
    const std::int64_t ms = ((t_ms % 1000) + 1000) % 1000;
    const std::int64_t seconds = (t_ms - ms) / 1000;
    const std::int64_t day_seconds = ((seconds % 86'400) + 86'400) % 86'400;
    std::int64_t days = (seconds - day_seconds) / 86'400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, the inverse of days_from_civil).
    days += 719'468;
    const std::int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
    const std::int64_t doe = days - era * 146'097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", year, month, day, day_seconds / 3600,
                       (day_seconds / 60) % 60, day_seconds % 60, ms);
}

}  // namespace joulepilot::cli
