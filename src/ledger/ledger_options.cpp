// Reads the [ledger] section of the config into LedgerOptions (keys documented in docs/config.md).
// Called once at start-up by the agent and the ledger/audit commands.

#include "core/config.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::ledger {

LedgerOptions read_ledger_options(const core::ConfigSection& section,
                                  const std::filesystem::path& default_path) {
    constexpr double kDay = 86'400.0;
    LedgerOptions options;
    options.path = section.string("path", default_path.string());
    options.queue_capacity = static_cast<std::size_t>(
        section.integer("queue_capacity", static_cast<std::int64_t>(options.queue_capacity), 16, 1LL << 26));
    options.batch_max = static_cast<std::size_t>(
        section.integer("batch_max", static_cast<std::int64_t>(options.batch_max), 1, 1'000'000));
    options.batch_interval = std::chrono::milliseconds(
        section.integer("batch_interval_ms", options.batch_interval.count(), 1, 10'000));
    // Raw samples are downsampled a minute after their minute ends, so raw retention must exceed that.
    options.raw_retention =
        core::Seconds(section.number("raw_retention_s", options.raw_retention.value(), 180.0, 365 * kDay));
    options.downsampled_retention = core::Seconds(section.number(
        "downsampled_retention_s", options.downsampled_retention.value(), 3600.0, 10 * 365 * kDay));
    options.compaction_interval = core::Seconds(
        section.number("compaction_interval_s", options.compaction_interval.value(), 0.0, kDay));
    options.busy_timeout = std::chrono::milliseconds(
        section.integer("busy_timeout_ms", options.busy_timeout.count(), 0, 60'000));
    options.durable_commits = section.boolean("durable_commits", options.durable_commits);
    options.max_size_mib = section.integer("max_size_mib", options.max_size_mib, 0, 1LL << 20);
    if (options.path.empty()) {
        throw core::ConfigError(section.path_of("path") +
                                ": must name a file (e.g. /var/lib/joulepilot/ledger.db)");
    }
    return options;
}

}  // namespace joulepilot::ledger
