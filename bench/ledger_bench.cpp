// The ledger's numbers (issue 5), on a real file in $JOULEPILOT_BENCH_DIR (default /tmp):
//  - BM_IngestDay: a day of 1 s samples for 100 series (8.64 M rows) through Ledger::append in batches of
//    one sampling tick (100 samples) and the writer thread, until committed (target >= 1,000,000/s). A
//    full queue is waited out, never dropped, so the rate is what the writer sustains. Raw samples are
//    stored as one block per series and minute (schema 3; docs/ledger.md);
//  - BM_QuerySeriesDay: one series' whole day of raw samples read back (86,400 points; target <= 100 ms);
//  - BM_QueryAllSeriesDay: all 100 series' day read back through LedgerReader::samples (8.64 M points);
//  - BM_QueryLatest: the newest sample of each of the 100 series (target <= 100 ms);
//  - BM_QuerySeriesDayMinutes: the same day as 1-minute aggregates (after compaction).
//  - BM_MigrateDayFromV2: `migrate_file` on a copy of a schema-2 ledger (one row per sample) named by
//    $JOULEPILOT_BENCH_V2_LEDGER, e.g. the day an older ledger_bench wrote; skipped when unset.
// BM_IngestDay also reports the process's CPU seconds (producer + writer thread): on a loaded machine the
// wall-clock rate reflects the load, samples_per_cpu_s what the code costs.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "ledger/ledger.hpp"

namespace {

using namespace joulepilot;
using namespace joulepilot::ledger;

constexpr int kSeries = 100;
constexpr std::int64_t kSeconds = 86'400;
constexpr std::int64_t kDayStartMs = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

std::filesystem::path bench_file() {
    const char* dir = std::getenv("JOULEPILOT_BENCH_DIR");
    return std::filesystem::path(dir != nullptr ? dir : "/tmp") / "joulepilot-ledger-bench.db";
}

void remove_ledger(const std::filesystem::path& path) {
    for (const char* suffix : {"", "-wal", "-shm", ".writer-lock"}) {
        std::filesystem::remove(path.string() + suffix);
    }
}

std::string series_name(int s) { return "gpu." + std::to_string(s) + ".power_watts"; }

// Writes the day; returns the number of samples committed.
std::int64_t write_day(const std::filesystem::path& path) {
    remove_ledger(path);
    LedgerOptions options;
    options.path = path;
    options.compaction_interval = core::Seconds(0);
    auto ledger = Ledger::open(options);
    if (!ledger) throw std::runtime_error(ledger.error().message);
    std::vector<SeriesId> ids;
    for (int s = 0; s < kSeries; ++s) ids.push_back((*ledger)->series({series_name(s), "W", "measured"}));
    std::vector<Sample> tick(kSeries);
    for (std::int64_t t = 0; t < kSeconds; ++t) {
        for (int s = 0; s < kSeries; ++s) {
            tick[static_cast<std::size_t>(s)] =
                Sample{ids[static_cast<std::size_t>(s)], kDayStartMs + t * 1000,
                       300.0 + static_cast<double>((t + s) % 97)};
        }
        while (!(*ledger)->append(tick)) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (auto flushed = (*ledger)->flush(std::chrono::minutes(10)); !flushed) {
        throw std::runtime_error(flushed.error().message);
    }
    const auto stats = (*ledger)->stats();
    return static_cast<std::int64_t>(stats.written) - kSeries;  // less the series rows
}

// CPU seconds of this process so far (all threads: the producer and the ledger's writer).
double process_cpu_s() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void BM_IngestDay(benchmark::State& state) {
    std::int64_t written = 0;
    const double cpu_before = process_cpu_s();
    for (auto _ : state) written = write_day(bench_file());
    const double cpu_s = process_cpu_s() - cpu_before;
    state.counters["samples"] = static_cast<double>(written);
    // On a shared machine the wall-clock rate depends on the load; CPU per sample does much less.
    state.counters["process_cpu_s"] = cpu_s;
    state.counters["samples_per_cpu_s"] = static_cast<double>(written) / cpu_s;
    state.SetItemsProcessed(written * static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_IngestDay)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

// The day written by BM_IngestDay, or written now when that benchmark was filtered out.
const LedgerReader& day_reader() {
    static const std::unique_ptr<LedgerReader> reader = [] {
        const auto path = bench_file();
        auto opened = LedgerReader::open(path);
        if (!opened ||
            (*opened)->samples(series_name(0), kDayStartMs, kDayStartMs + kSeconds * 1000)->size() !=
                static_cast<std::size_t>(kSeconds)) {
            write_day(path);
            opened = LedgerReader::open(path);
        }
        if (!opened) throw std::runtime_error(opened.error().message);
        return std::move(*opened);
    }();
    return *reader;
}

void BM_QuerySeriesDay(benchmark::State& state) {
    const auto& reader = day_reader();
    std::size_t points = 0;
    for (auto _ : state) {
        auto got = reader.samples(series_name(42), kDayStartMs, kDayStartMs + kSeconds * 1000);
        if (!got) {
            state.SkipWithError(got.error().message.c_str());
            break;
        }
        points = got->size();
        benchmark::DoNotOptimize(got->data());
    }
    state.counters["points"] = static_cast<double>(points);
}
BENCHMARK(BM_QuerySeriesDay)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_QueryAllSeriesDay(benchmark::State& state) {
    const auto& reader = day_reader();
    std::size_t points = 0;
    for (auto _ : state) {
        points = 0;
        for (int s = 0; s < kSeries; ++s) {
            auto got = reader.samples(series_name(s), kDayStartMs, kDayStartMs + kSeconds * 1000);
            if (!got) {
                state.SkipWithError(got.error().message.c_str());
                return;
            }
            points += got->size();
            benchmark::DoNotOptimize(got->data());
        }
    }
    state.counters["points"] = static_cast<double>(points);
}
BENCHMARK(BM_QueryAllSeriesDay)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_QueryLatest(benchmark::State& state) {
    const auto& reader = day_reader();
    std::size_t series = 0;
    for (auto _ : state) {
        auto got = reader.latest();
        if (!got) {
            state.SkipWithError(got.error().message.c_str());
            break;
        }
        series = got->size();
        benchmark::DoNotOptimize(got->data());
    }
    state.counters["series"] = static_cast<double>(series);
}
BENCHMARK(BM_QueryLatest)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

void BM_QuerySeriesDayMinutes(benchmark::State& state) {
    day_reader();
    // Downsample the whole day once (as the writer's periodic compaction would have, minute by minute).
    static const bool compacted = [] {
        LedgerOptions options;
        options.path = bench_file();
        options.compaction_interval = core::Seconds(0);
        auto ledger = Ledger::open(options);
        if (!ledger) throw std::runtime_error(ledger.error().message);
        // "now" is the end of the day: nothing is past retention yet.
        return static_cast<bool>((*ledger)->compact(kDayStartMs + kSeconds * 1000 + 120'000));
    }();
    if (!compacted) {
        state.SkipWithError("compaction failed");
        return;
    }
    const auto& reader = day_reader();
    std::size_t minutes = 0;
    for (auto _ : state) {
        auto got = reader.minutes(series_name(42), kDayStartMs, kDayStartMs + kSeconds * 1000);
        if (!got) {
            state.SkipWithError(got.error().message.c_str());
            break;
        }
        minutes = got->size();
        benchmark::DoNotOptimize(got->data());
    }
    state.counters["minutes"] = static_cast<double>(minutes);
}
BENCHMARK(BM_QuerySeriesDayMinutes)->Unit(benchmark::kMicrosecond)->MinTime(1.0);

void BM_MigrateDayFromV2(benchmark::State& state) {
    const char* source = std::getenv("JOULEPILOT_BENCH_V2_LEDGER");
    if (source == nullptr) {
        state.SkipWithError(
            "set JOULEPILOT_BENCH_V2_LEDGER to a schema-2 ledger file to measure its migration");
        return;
    }
    const auto copy = bench_file().string() + ".v2";
    double cpu_s = 0;
    for (auto _ : state) {
        state.PauseTiming();
        remove_ledger(copy);
        std::filesystem::copy_file(source, copy);
        const double cpu_before = process_cpu_s();
        state.ResumeTiming();
        auto migrated = migrate_file(copy);
        if (!migrated) {
            state.SkipWithError(migrated.error().message.c_str());
            break;
        }
        cpu_s += process_cpu_s() - cpu_before;
    }
    state.counters["process_cpu_s"] = cpu_s;
    remove_ledger(copy);
}
BENCHMARK(BM_MigrateDayFromV2)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
