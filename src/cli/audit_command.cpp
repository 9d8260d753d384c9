// `joulepilot audit verify|show`: check the hash chain of the shield's audit trail in the ledger, and
// list its entries. verify never repairs: exit 0 when the chain is intact, 1 when it is broken (the
// message names the first bad seq and why), 2 when the ledger cannot be opened.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/ledger_cli.hpp"
#include "core/clock.hpp"
#include "ledger/ledger.hpp"

namespace joulepilot::cli {
namespace {

struct AuditOptions {
    LedgerLocation location;
    bool json = false;
    std::string since;
    std::size_t last = 50;
};

int run_verify(const AuditOptions& options) {
    std::string path;
    auto reader = open_ledger_reader(options.location, &path);
    if (!reader) return kExitBadInput;
    auto verdict = reader->verify_audit();
    if (!verdict) {
        std::cerr << "error: " << verdict.error().message << "\n";
        return kExitBadInput;
    }
    if (options.json) {
        std::cout << nlohmann::json{{"ledger", path},
                                    {"intact", verdict->intact()},
                                    {"entries", verdict->entries},
                                    {"last_good_seq", verdict->last_seq},
                                    {"first_bad_seq", verdict->intact()
                                                          ? nlohmann::json(nullptr)
                                                          : nlohmann::json(verdict->first_bad_seq)},
                                    {"problem", std::string(ledger::to_string(verdict->problem))},
                                    {"message", verdict->message}}
                         .dump(2)
                  << "\n";
    } else if (verdict->intact()) {
        std::cout << fmt::format("audit chain of {} intact: {} entries, seq 1..{}\n", path, verdict->entries,
                                 verdict->last_seq);
    } else {
        std::cout << fmt::format(
            "audit chain of {} BROKEN: {}\n(entries up to seq {} verify; nothing was "
            "changed: keep this file as evidence and investigate)\n",
            path, verdict->message, verdict->last_seq);
    }
    return verdict->intact() ? kExitOk : kExitFailure;
}

int run_show(const AuditOptions& options) {
    std::string path;
    auto reader = open_ledger_reader(options.location, &path);
    if (!reader) return kExitBadInput;
    core::Result<std::vector<ledger::AuditEntry>> entries;
    if (!options.since.empty()) {
        auto since = parse_time_ms(options.since, ledger::to_ms(core::SystemClock().now()));
        if (!since) {
            std::cerr << "error: --since: " << since.error().message << "\n";
            return kExitBadInput;
        }
        entries = reader->audit(*since, options.last);
    } else {
        entries = reader->last_audit(options.last);
    }
    if (!entries) {
        std::cerr << "error: " << entries.error().message << "\n";
        return kExitFailure;
    }
    if (options.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : *entries) {
            out.push_back({{"seq", e.seq},
                           {"t_ms", e.t_ms},
                           {"kind", e.kind},
                           {"body", e.body},
                           {"prev_hash", e.prev_hash},
                           {"hash", e.hash}});
        }
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    for (const auto& e : *entries) {
        std::cout << fmt::format("{:>8} {} {:<10} {} {}\n", e.seq, format_time_ms(e.t_ms), e.kind,
                                 e.body.dump(), e.hash.substr(0, 12));
    }
    return kExitOk;
}

}  // namespace

void add_audit_command(CLI::App& app, CommandContext& context) {
    CLI::App* audit = app.add_subcommand(
        "audit",
        "The shield's audit trail: every knob change, refusal, rollback and restore, append-only and\n"
        "hash-chained (SHA-256) in the ledger, so an edited, deleted or reordered entry is detected.");
    audit->require_subcommand(1);
    auto options = std::make_shared<AuditOptions>();

    CLI::App* verify = audit->add_subcommand(
        "verify",
        "Walk the whole chain. Exit 0 intact, 1 broken (names the first bad seq and why), 2 when the\n"
        "ledger cannot be opened. Never repairs anything");
    add_ledger_location(verify, options->location);
    verify->add_flag("--json", options->json, "Machine-readable verdict");
    verify->callback([options, &context] { context.action = [options] { return run_verify(*options); }; });

    CLI::App* show =
        audit->add_subcommand("show", "List entries, oldest first: the last N, or those since a time");
    add_ledger_location(show, options->location);
    show->add_option("--since", options->since,
                     "UTC time (2026-11-22T10:00:00Z), Unix seconds (@1700000000) or how long ago (2h)");
    show->add_option("--last", options->last, "At most this many entries (0: all)")->capture_default_str();
    show->add_flag("--json", options->json, "Machine-readable output");
    show->callback([options, &context] { context.action = [options] { return run_show(*options); }; });
}

}  // namespace joulepilot::cli
