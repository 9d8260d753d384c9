#include "twin/replica/calibration_sources.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "core/csv.hpp"

namespace joulepilot::twin {
namespace {

// A CSV file read by column name: the header is checked once, each row is checked for its field count,
// and numeric fields are parsed with an error naming file, line and column.
class Table {
public:
    static core::Result<Table> open(const std::filesystem::path& file,
                                    const std::vector<std::string>& columns) {
        auto reader = core::CsvReader::open(file);
        if (!reader) return tl::unexpected(reader.error());
        std::vector<std::string> header;
        if (!reader->next(header)) {
            return core::fail(fmt::format("{}: empty file (no header)", file.string()));
        }
        std::vector<std::size_t> index;
        for (const auto& column : columns) {
            const auto it = std::find(header.begin(), header.end(), column);
            if (it == header.end()) {
                return core::fail(
                    fmt::format("{}:{}: missing column '{}'", file.string(), reader->line(), column));
            }
            index.push_back(static_cast<std::size_t>(it - header.begin()));
        }
        return Table(std::move(*reader), columns, std::move(index), header.size());
    }

    // Next row; false at end of file, or with `error` set when the row has the wrong number of fields.
    bool next(std::optional<core::Error>& error) {
        if (!m_reader.next(m_fields)) return false;
        if (m_fields.size() != m_width) {
            error = m_reader.error(fmt::format("expected {} fields, found {}", m_width, m_fields.size()));
        }
        return true;
    }

    [[nodiscard]] const std::string& text(std::size_t column) const { return m_fields[m_index[column]]; }

    [[nodiscard]] core::Result<double> number(std::size_t column) const {
        const auto value = core::parse_double(text(column));
        if (!value) {
            return tl::unexpected(m_reader.error(
                fmt::format("column '{}': not a number ('{}')", m_columns[column], text(column))));
        }
        return *value;
    }

    // A number that must be > 0 (times, powers, sizes).
    [[nodiscard]] core::Result<double> positive(std::size_t column) const {
        auto value = number(column);
        if (value && !(*value > 0)) {
            return tl::unexpected(
                m_reader.error(fmt::format("column '{}': must be positive ({})", m_columns[column], *value)));
        }
        return value;
    }

    [[nodiscard]] core::Result<int> count(std::size_t column) const {
        const auto value = core::parse_integer(text(column));
        if (!value || *value <= 0 || *value > 1'000'000) {
            return tl::unexpected(m_reader.error(
                fmt::format("column '{}': not a positive integer ('{}')", m_columns[column], text(column))));
        }
        return static_cast<int>(*value);
    }

    [[nodiscard]] const std::string& name() const { return m_reader.name(); }

private:
    Table(core::CsvReader reader, std::vector<std::string> columns, std::vector<std::size_t> index,
          std::size_t width)
        : m_reader(std::move(reader)),
          m_columns(std::move(columns)),
          m_index(std::move(index)),
          m_width(width) {}

    core::CsvReader m_reader;
    std::vector<std::string> m_columns;
    std::vector<std::size_t> m_index;
    std::size_t m_width;
    std::vector<std::string> m_fields;
};

core::Error no_rows(const Table& table, std::string_view what) {
    return core::Error{fmt::format("{}: no rows for {}", table.name(), what)};
}

// Unwraps a Result<T> into `out` or returns its error from the enclosing function.
#define JP_ASSIGN(out, expr)                                        \
    do {                                                            \
        auto jp_result_ = (expr);                                   \
        if (!jp_result_) return tl::unexpected(jp_result_.error()); \
        (out) = *jp_result_;                                        \
    } while (false)

constexpr std::string_view kArgonneHardware = "Nvidia H100 GPU";
constexpr std::string_view kArgonneModel = "meta-llama/Meta-Llama-3-8B";

// The Argonne files share their first columns; `latency`, `power` and `precision` name the rest.
core::Result<std::vector<ArgonneRun>> load_argonne(const std::filesystem::path& file,
                                                   const std::string& latency, const std::string& power,
                                                   const std::string& precision,
                                                   std::string_view wanted_precision) {
    std::vector<std::string> columns = {
        "Hardware", "Num of Hardware", "Framework", "Model", "Input Output Length", "Batch Size", latency};
    if (!power.empty()) columns.push_back(power);
    if (!precision.empty()) columns.push_back(precision);
    auto table = Table::open(file, columns);
    if (!table) return tl::unexpected(table.error());
    std::vector<ArgonneRun> runs;
    std::optional<core::Error> error;
    while (table->next(error)) {
        if (error) return tl::unexpected(*error);
        if (table->text(0) != kArgonneHardware || table->text(2) != "vLLM" ||
            table->text(3) != kArgonneModel) {
            continue;
        }
        if (!precision.empty() && table->text(columns.size() - 1) != wanted_precision) continue;
        int gpus = 0;
        JP_ASSIGN(gpus, table->count(1));
        if (gpus != 1) continue;
        ArgonneRun run;
        JP_ASSIGN(run.length, table->count(4));
        JP_ASSIGN(run.batch, table->count(5));
        JP_ASSIGN(run.latency_s, table->positive(6));
        if (!power.empty()) {
            double power_mw = 0;
            JP_ASSIGN(power_mw, table->positive(7));
            run.power_w = power_mw / 1000.0;  // the file's avg_power is in milliwatts
        }
        runs.push_back(run);
    }
    if (runs.empty()) return tl::unexpected(no_rows(*table, "Meta-Llama-3-8B on one H100 with vLLM"));
    std::sort(runs.begin(), runs.end(), [](const ArgonneRun& a, const ArgonneRun& b) {
        return std::tie(a.length, a.batch) < std::tie(b.length, b.batch);
    });
    return runs;
}

}  // namespace

core::Result<std::vector<MlEnergyRow>> load_mlenergy_h100_llama8b(const std::filesystem::path& file) {
    const std::vector<std::string> columns = {"task",
                                              "model_id",
                                              "gpu_model",
                                              "num_gpus",
                                              "weight_precision",
                                              "max_num_seqs",
                                              "avg_batch_size",
                                              "avg_power_watts",
                                              "energy_per_token_joules",
                                              "median_itl_ms",
                                              "output_throughput_tokens_per_sec",
                                              "avg_output_len"};
    auto table = Table::open(file, columns);
    if (!table) return tl::unexpected(table.error());
    std::vector<MlEnergyRow> rows;
    std::optional<core::Error> error;
    while (table->next(error)) {
        if (error) return tl::unexpected(*error);
        if (table->text(1) != "meta-llama/Llama-3.1-8B-Instruct" || table->text(2) != "H100" ||
            table->text(4) != "bfloat16") {
            continue;
        }
        int gpus = 0;
        JP_ASSIGN(gpus, table->count(3));
        if (gpus != 1) continue;
        MlEnergyRow row;
        double itl_ms = 0;
        JP_ASSIGN(row.max_num_seqs, table->count(5));
        JP_ASSIGN(row.avg_batch_size, table->positive(6));
        JP_ASSIGN(row.avg_power_w, table->positive(7));
        JP_ASSIGN(row.energy_per_token_j, table->positive(8));
        JP_ASSIGN(itl_ms, table->positive(9));
        JP_ASSIGN(row.output_throughput_tps, table->positive(10));
        JP_ASSIGN(row.avg_output_len, table->positive(11));
        row.median_itl_s = itl_ms / 1000.0;
        rows.push_back(row);
    }
    if (rows.empty()) {
        return tl::unexpected(no_rows(*table, "meta-llama/Llama-3.1-8B-Instruct on one H100 (bfloat16)"));
    }
    std::sort(rows.begin(), rows.end(),
              [](const MlEnergyRow& a, const MlEnergyRow& b) { return a.max_num_seqs < b.max_num_seqs; });
    return rows;
}

core::Result<std::vector<ArgonneRun>> load_argonne_latency(const std::filesystem::path& file) {
    return load_argonne(file, "Latency", "", "", "");
}

core::Result<std::vector<ArgonneRun>> load_argonne_power(const std::filesystem::path& file) {
    return load_argonne(file, "Latency", "avg_power", "", "");
}

core::Result<std::vector<ArgonneRun>> load_argonne_quant(const std::filesystem::path& file,
                                                         ArgonnePrecision precision) {
    const std::string_view label = precision == ArgonnePrecision::fp8 ? "Weight = fp8, KV Cache = fp8"
                                                                      : "Weight = fp16, KV Cache = fp16";
    return load_argonne(file, "latency", "", "kv_cache_dtype", label);
}

core::Result<std::vector<PrefillPoint>> load_splitwise_prefill(const std::filesystem::path& file) {
    const std::vector<std::string> columns = {"model",      "hardware",    "prompt_size",
                                              "batch_size", "prompt_time", "tensor_parallel"};
    auto table = Table::open(file, columns);
    if (!table) return tl::unexpected(table.error());
    // (prompt size, batch) -> (sum of prompt times in s, repeats)
    std::map<std::pair<int, int>, std::pair<double, int>> sums;
    std::optional<core::Error> error;
    while (table->next(error)) {
        if (error) return tl::unexpected(*error);
        if (table->text(0) != "llama2-70b" || table->text(1) != "h100-80gb") continue;
        int tp = 0;
        int prompt = 0;
        int batch = 0;
        double time_ms = 0;
        JP_ASSIGN(tp, table->count(5));
        if (tp != 2) continue;
        JP_ASSIGN(prompt, table->count(2));
        JP_ASSIGN(batch, table->count(3));
        JP_ASSIGN(time_ms, table->positive(4));
        // The batch-64 rows report a prefill 6x shorter than batch 32 for twice the tokens: not a
        // measurement we can use (see the calibration report).
        if (batch == 64) continue;
        auto& sum = sums[{prompt, batch}];
        sum.first += time_ms / 1000.0;
        sum.second += 1;
    }
    if (sums.empty()) return tl::unexpected(no_rows(*table, "llama2-70b on h100-80gb, tensor parallel 2"));
    std::vector<PrefillPoint> points;
    for (const auto& [key, sum] : sums) points.push_back({key.first, key.second, sum.first / sum.second});
    std::sort(points.begin(), points.end(), [](const PrefillPoint& a, const PrefillPoint& b) {
        return std::make_pair(a.prompt_size * a.batch, a.batch) <
               std::make_pair(b.prompt_size * b.batch, b.batch);
    });
    return points;
}

core::Result<std::vector<ClockPoint>> load_zeus_stage_profile(const std::filesystem::path& file) {
    auto table = Table::open(file, {"stage", "instruction", "frequency", "time", "energy"});
    if (!table) return tl::unexpected(table.error());
    const std::string stem = file.stem().string();
    std::vector<ClockPoint> points;
    std::optional<core::Error> error;
    while (table->next(error)) {
        if (error) return tl::unexpected(*error);
        ClockPoint p;
        p.series = fmt::format("{} stage {} {}", stem, table->text(0), table->text(1));
        JP_ASSIGN(p.clock_mhz, table->positive(2));
        JP_ASSIGN(p.time_s, table->positive(3));
        JP_ASSIGN(p.energy_j, table->positive(4));
        points.push_back(std::move(p));
    }
    if (points.empty()) return tl::unexpected(no_rows(*table, "any stage"));
    std::sort(points.begin(), points.end(), [](const ClockPoint& a, const ClockPoint& b) {
        return std::tie(a.series, a.clock_mhz) < std::tie(b.series, b.clock_mhz);
    });
    return points;
}

core::Result<std::vector<PowerLimitPoint>> load_zeus_power_limit(const std::filesystem::path& file) {
    auto table = Table::open(file, {"dataset", "network", "batch_size", "optimizer", "power_limit",
                                    "time_per_epoch", "average_power"});
    if (!table) return tl::unexpected(table.error());
    std::vector<PowerLimitPoint> points;
    std::optional<core::Error> error;
    while (table->next(error)) {
        if (error) return tl::unexpected(*error);
        PowerLimitPoint p;
        p.series =
            fmt::format("{} {} batch {} {}", table->text(0), table->text(1), table->text(2), table->text(3));
        JP_ASSIGN(p.power_limit_w, table->positive(4));
        JP_ASSIGN(p.time_s, table->positive(5));
        JP_ASSIGN(p.power_w, table->positive(6));
        points.push_back(std::move(p));
    }
    if (points.empty()) return tl::unexpected(no_rows(*table, "any training job"));
    std::sort(points.begin(), points.end(), [](const PowerLimitPoint& a, const PowerLimitPoint& b) {
        return std::tie(a.series, a.power_limit_w) < std::tie(b.series, b.power_limit_w);
    });
    return points;
}

#undef JP_ASSIGN

}  // namespace joulepilot::twin
