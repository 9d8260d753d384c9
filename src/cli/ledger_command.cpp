// `joulepilot ledger query|export|info|migrate`: read the agent's ledger (samples, decisions, actions,
// audit, per-request energy) while the agent runs, export a table as CSV or JSON, and upgrade an old
// file. Thin: the queries are ledger::LedgerReader's. Exit 0 ok, 1 runtime failure, 2 bad input
// (unknown series or table, a file that is not a ledger, bad options).
#include <fstream>
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

struct LedgerCommandOptions {
    LedgerLocation location;
    std::string series;
    std::string from = "1d";
    std::string to;
    bool minutes = false;
    bool json = false;
    std::string table;
    std::string format = "csv";
    std::string out;
};

std::string csv_cell(const nlohmann::json& value) {
    if (value.is_null()) return "";
    if (!value.is_string()) return value.dump();
    const auto& text = value.get_ref<const std::string&>();
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

int run_query(const LedgerCommandOptions& options) {
    auto reader = open_ledger_reader(options.location);
    if (!reader) return kExitBadInput;
    const auto now_ms = ledger::to_ms(core::SystemClock().now());
    if (options.series.empty()) {
        // No series: the newest value of each.
        auto latest = reader->latest();
        if (!latest) {
            std::cerr << "error: " << latest.error().message << "\n";
            return kExitFailure;
        }
        if (options.json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& v : *latest) {
                out.push_back({{"series", v.series}, {"unit", v.unit}, {"t_ms", v.t_ms}, {"value", v.value}});
            }
            std::cout << out.dump(2) << "\n";
        } else {
            for (const auto& v : *latest) {
                std::cout << fmt::format("{:<40} {:>14.6g} {:<4} {}\n", v.series, v.value, v.unit,
                                         format_time_ms(v.t_ms));
            }
        }
        return kExitOk;
    }
    auto from = parse_time_ms(options.from, now_ms);
    auto to = options.to.empty() ? core::Result<std::int64_t>(now_ms + 1) : parse_time_ms(options.to, now_ms);
    if (!from || !to) {
        std::cerr << "error: --from/--to: " << (!from ? from.error().message : to.error().message) << "\n";
        return kExitBadInput;
    }
    nlohmann::json out{{"series", options.series}, {"from_ms", *from}, {"to_ms", *to}};
    if (options.minutes) {
        auto minutes = reader->minutes(options.series, *from, *to);
        if (!minutes) {
            std::cerr << "error: " << minutes.error().message << "\n";
            return kExitBadInput;
        }
        out["resolution"] = "1m";
        out["points"] = nlohmann::json::array();
        for (const auto& m : *minutes) {
            if (options.json) {
                out["points"].push_back(
                    {{"t_ms", m.t_ms}, {"min", m.min}, {"mean", m.mean}, {"max", m.max}, {"count", m.count}});
            } else {
                std::cout << fmt::format("{} min {:.6g} mean {:.6g} max {:.6g} n {}\n",
                                         format_time_ms(m.t_ms), m.min, m.mean, m.max, m.count);
            }
        }
    } else {
        auto samples = reader->samples(options.series, *from, *to);
        if (!samples) {
            std::cerr << "error: " << samples.error().message << "\n";
            return kExitBadInput;
        }
        out["resolution"] = "raw";
        out["points"] = nlohmann::json::array();
        for (const auto& p : *samples) {
            if (options.json) {
                out["points"].push_back({{"t_ms", p.t_ms}, {"value", p.value}});
            } else {
                std::cout << fmt::format("{} {:.9g}\n", format_time_ms(p.t_ms), p.value);
            }
        }
    }
    if (options.json) std::cout << out.dump(2) << "\n";
    return kExitOk;
}

int run_export(const LedgerCommandOptions& options) {
    auto reader = open_ledger_reader(options.location);
    if (!reader) return kExitBadInput;
    auto columns = reader->table_columns(options.table);
    if (!columns) {
        std::cerr << "error: --table: " << columns.error().message << "\n";
        return kExitBadInput;
    }
    std::ofstream file;
    if (!options.out.empty()) {
        file.open(options.out);
        if (!file) {
            std::cerr << "error: --out " << options.out << ": cannot write (does the folder exist?)\n";
            return kExitBadInput;
        }
    }
    std::ostream& out = options.out.empty() ? std::cout : file;
    const bool csv = options.format == "csv";
    std::size_t rows = 0;
    if (csv) {
        for (std::size_t c = 0; c < columns->size(); ++c) out << (c > 0 ? "," : "") << (*columns)[c];
        out << "\n";
    } else {
        out << "[";
    }
    auto done = reader->for_each_row(options.table, [&](const nlohmann::json& row) {
        if (csv) {
            for (std::size_t c = 0; c < columns->size(); ++c) {
                out << (c > 0 ? "," : "") << csv_cell(row.at((*columns)[c]));
            }
            out << "\n";
        } else {
            out << (rows > 0 ? ",\n " : "\n ") << row.dump();
        }
        ++rows;
    });
    if (!csv) out << (rows > 0 ? "\n]\n" : "]\n");
    out.flush();
    if (!done) {
        std::cerr << "error: " << done.error().message << "\n";
        return kExitFailure;
    }
    if (!out) {
        std::cerr << "error: writing " << (options.out.empty() ? "stdout" : options.out)
                  << " failed (disk full?)\n";
        return kExitFailure;
    }
    if (!options.out.empty())
        std::cerr << "wrote " << rows << " rows of " << options.table << " to " << options.out << "\n";
    return kExitOk;
}

int run_info(const LedgerCommandOptions& options) {
    auto reader = open_ledger_reader(options.location);
    if (!reader) return kExitBadInput;
    auto info = reader->info();
    auto series = reader->series();
    if (!info || !series) {
        std::cerr << "error: " << (!info ? info.error().message : series.error().message) << "\n";
        return kExitFailure;
    }
    if (options.json) {
        nlohmann::json out{{"path", info->path.string()},
                           {"schema_version", info->schema_version},
                           {"file_bytes", info->file_bytes}};
        for (const auto& table : info->tables) out["tables"][table.name] = table.rows;
        out["series"] = nlohmann::json::array();
        for (const auto& s : *series) {
            out["series"].push_back({{"name", s.name}, {"unit", s.unit}, {"provenance", s.provenance}});
        }
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::cout << fmt::format("ledger {}\nschema version {}, {:.1f} MB on disk (with the WAL)\n\n",
                             info->path.string(), info->schema_version,
                             static_cast<double>(info->file_bytes) / 1e6);
    for (const auto& table : info->tables)
        std::cout << fmt::format("{:<16} {:>12} rows\n", table.name, table.rows);
    std::cout << "\n" << series->size() << " series:\n";
    for (const auto& s : *series)
        std::cout << fmt::format("  {:<40} {:<4} {}\n", s.name, s.unit, s.provenance);
    return kExitOk;
}

int run_migrate(const LedgerCommandOptions& options) {
    auto path = resolve_ledger_path(options.location);
    if (!path) {
        std::cerr << "error: " << path.error().message << "\n";
        return kExitBadInput;
    }
    auto version = ledger::migrate_file(*path);
    if (!version) {
        std::cerr << "error: " << version.error().message << "\n";
        return kExitBadInput;
    }
    std::cout << "ledger " << *path << ": schema version " << *version << "\n";
    return kExitOk;
}

}  // namespace

void add_ledger_command(CLI::App& app, CommandContext& context) {
    CLI::App* ledger = app.add_subcommand(
        "ledger",
        "Read the agent's ledger (SQLite): samples of a series, the latest value of every series, row "
        "counts,\n"
        "and whole tables as CSV or JSON. Safe while the agent runs (reads never block its writes).");
    ledger->require_subcommand(1);
    auto options = std::make_shared<LedgerCommandOptions>();

    CLI::App* query = ledger->add_subcommand(
        "query",
        "Samples of one series over a time range (raw or 1-minute aggregates); without --series,\n"
        "the latest value of every series");
    add_ledger_location(query, options->location);
    query->add_option("--series", options->series,
                      "Series name, e.g. gpu.0.power_watts (`ledger info` lists them)");
    query
        ->add_option(
            "--from", options->from,
            "Start: UTC time (2026-11-22T10:00:00Z), Unix seconds (@1700000000) or how long ago (2h)")
        ->capture_default_str();
    query->add_option("--to", options->to, "End (exclusive), same forms; default now");
    query->add_flag("--minutes", options->minutes,
                    "1-minute aggregates (min, mean, max, count) instead of raw");
    query->add_flag("--json", options->json, "Machine-readable output");
    query->callback([options, &context] { context.action = [options] { return run_query(*options); }; });

    CLI::App* exported = ledger->add_subcommand("export", "One table, every row, as CSV or a JSON array");
    add_ledger_location(exported, options->location);
    exported
        ->add_option("--table", options->table,
                     "samples, samples_1m, series, decisions, actions, audit, "
                     "request_energy, job_state, key_value or meta")
        ->required();
    exported->add_option("--format", options->format, "csv or json")
        ->check(CLI::IsMember({"csv", "json"}))
        ->capture_default_str();
    exported->add_option("--out", options->out, "Write to this file instead of stdout")->option_text("FILE");
    exported->callback([options, &context] { context.action = [options] { return run_export(*options); }; });

    CLI::App* info =
        ledger->add_subcommand("info", "Schema version, size, rows per table and the series held");
    add_ledger_location(info, options->location);
    info->add_flag("--json", options->json, "Machine-readable output");
    info->callback([options, &context] { context.action = [options] { return run_info(*options); }; });

    CLI::App* migrate = ledger->add_subcommand(
        "migrate",
        "Upgrade a ledger written by an older joulepilot to this build's schema (the agent does\n"
        "this itself on start); creates an empty ledger when the file does not exist");
    add_ledger_location(migrate, options->location);
    migrate->callback([options, &context] { context.action = [options] { return run_migrate(*options); }; });
}

}  // namespace joulepilot::cli
