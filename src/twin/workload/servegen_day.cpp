#include "twin/workload/servegen_day.hpp"

// What the trace's distribution arguments mean, from ServeGen's generator (alibaba/ServeGen,
// servegen/construct.py, `_sample_iats` and `generate_workload`; the loader is servegen/clientpool.py):
//  - a row is (window start, rate, cv, name, arg1, arg2); the loader makes it pat = (name, (arg1, arg2));
//  - `_sample_iats` unpacks `pat_name, (shape, scale)` and draws `ceil(rate * window)` inter-arrival times
//    with scipy: Gamma -> stats.gamma.rvs(a=shape, scale=scale), Weibull -> stats.weibull_min.rvs(c=shape,
//    scale=scale) (any other name raises), then multiplies them by `window / sum(iats)` and keeps the
//    arrivals before the window's end. So arg1 is the shape, arg2 the fitted scale, and the scale is
//    discarded by that rescaling: the count follows the rate, the shape gives the burstiness.
//  - In the DeepSeek-R1 data, rate x 600 is a whole number (a measured count); Gamma rows have
//    cv = 1 / sqrt(arg1) (a moment fit); Weibull rows have a fitted shape whose CV differs from the cv
//    column (median -16 %, from -76 % to +79 %); the fitted mean gap (shape and scale) x rate has a
//    median near 1 (0.99 Gamma, 1.08 Weibull) but ranges from 0.0002 to 3. Only Gamma and Weibull occur.
//    Like ServeGen we follow arg1, not the cv column, and take the mean gap from the rate.
// We do the same with the std distributions: shape from arg1, scale re-derived so the mean gap is
// 1 / (rate x rate_scale) (the CV is the shape's), then n + 1 gaps scaled to fill the window exactly, so the
// window holds exactly n arrivals strictly inside it. Two deliberate differences: the count is
// rate x rate_scale x 600 with the fraction rounded up with its probability (ServeGen's ceil-then-cut gives
// one fewer), and input and output lengths are independent draws (ServeGen reuses one uniform for every
// field, which makes input and output lengths perfectly rank-correlated).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/csv.hpp"

namespace joulepilot::twin {
namespace {

constexpr int kWindowsPerDay = 144;
constexpr double kWindowSeconds = ServeGenDay::kWindowSeconds;

using Shape = ServeGenWindow::Shape;

// splitmix64's finaliser: decorrelates the per-(client, window) streams drawn from one seed.
std::uint64_t mix(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31U);
}

// One stream per client and absolute window, so a window's draws do not depend on the duration asked for.
std::uint64_t stream_seed(std::uint64_t seed, int client_id, std::int64_t window) {
    return mix(mix(mix(seed) ^ static_cast<std::uint64_t>(client_id)) ^ static_cast<std::uint64_t>(window));
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

// The latest non-empty histogram at or before `start_s` (ServeGen's `_get_dataset_window`); null if none.
const TokenHistogram* find_histogram(const std::map<int, TokenHistogram>& histograms, double start_s) {
    auto it = histograms.upper_bound(static_cast<int>(start_s));
    if (it == histograms.begin()) return nullptr;
    return &std::prev(it)->second;
}

// Parses a Python dict literal of int -> float, `{45: 0.0096, 46: 0.0117}`, into a histogram. Errors say
// where in the literal (0-based character) and what was expected; the caller adds file and window.
core::Result<TokenHistogram> parse_histogram_literal(std::string_view text) {
    std::size_t pos = 0;
    const auto skip_space = [&] {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t')) ++pos;
    };
    const auto expected = [&](std::string_view what) {
        const std::string_view found =
            pos < text.size() ? text.substr(pos, 12) : std::string_view("end of text");
        return core::fail(fmt::format("at character {}: expected {}, found `{}`", pos, what, found));
    };

    std::vector<std::pair<long long, double>> bins;
    skip_space();
    if (pos >= text.size() || text[pos] != '{')
        return expected("`{` starting a dict like {45: 0.01, 46: 0.02}");
    ++pos;
    skip_space();
    while (pos < text.size() && text[pos] != '}') {
        long long token = 0;
        const auto [key_end, key_ec] = std::from_chars(text.data() + pos, text.data() + text.size(), token);
        if (key_ec != std::errc()) return expected("an integer token count");
        if (token < 0 || token > std::numeric_limits<int>::max())
            return expected("a token count in [0, 2^31)");
        pos = static_cast<std::size_t>(key_end - text.data());
        skip_space();
        if (pos >= text.size() || text[pos] != ':') return expected("`:`");
        ++pos;
        skip_space();
        double probability = 0;
        const auto [value_end, value_ec] =
            std::from_chars(text.data() + pos, text.data() + text.size(), probability);
        if (value_ec != std::errc() || !std::isfinite(probability) || probability < 0) {
            return expected("a probability >= 0");
        }
        pos = static_cast<std::size_t>(value_end - text.data());
        bins.emplace_back(token, probability);
        skip_space();
        if (pos < text.size() && text[pos] == ',') {
            ++pos;
            skip_space();
        } else if (pos >= text.size() || text[pos] != '}') {
            return expected("`,` or `}`");
        }
    }
    if (pos >= text.size()) return expected("`}` closing the dict");
    ++pos;
    skip_space();
    if (pos != text.size()) return expected("nothing after the closing `}`");

    TokenHistogram histogram;
    if (bins.empty()) return histogram;
    std::sort(bins.begin(), bins.end());
    double total = 0;
    for (std::size_t i = 0; i < bins.size(); ++i) {
        if (i > 0 && bins[i].first == bins[i - 1].first) {
            return core::fail(fmt::format("token count {} appears twice", bins[i].first));
        }
        total += bins[i].second;
    }
    // The files hold probabilities (ServeGen checks they sum to 1 within 1e-6); allow for rounding only.
    if (std::abs(total - 1.0) > 1e-3) {
        return core::fail(fmt::format("probabilities sum to {}, expected 1", total));
    }
    histogram.tokens.reserve(bins.size());
    histogram.cumulative.reserve(bins.size());
    double running = 0;
    for (const auto& [token, probability] : bins) {
        running += probability;
        histogram.tokens.push_back(static_cast<int>(token));
        histogram.cumulative.push_back(running / total);
    }
    histogram.cumulative.back() = 1.0;
    return histogram;
}

core::Result<std::vector<ServeGenWindow>> read_trace(const std::filesystem::path& path) {
    auto reader = core::CsvReader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    std::vector<ServeGenWindow> windows;
    windows.reserve(kWindowsPerDay);
    std::vector<std::string> fields;
    while (reader->next(fields)) {
        const auto error = [&](std::string_view what) { return tl::unexpected(reader->error(what)); };
        if (fields.size() != 6) {
            return error(
                fmt::format("expected 6 fields (window_start_s,rate_req_per_s,cv,dist_name,arg1,arg2), "
                            "found {}",
                            fields.size()));
        }
        const auto index = static_cast<int>(windows.size());
        if (index >= kWindowsPerDay) {
            return error(fmt::format("expected {} windows of 600 s (one day), found more", kWindowsPerDay));
        }
        ServeGenWindow window;
        const auto start = core::parse_integer(fields[0]);
        if (!start || *start != static_cast<long long>(index) * 600) {
            return error(fmt::format("expected window_start_s {} (rows every 600 s from 0), found `{}`",
                                     index * 600, fields[0]));
        }
        window.start_s = static_cast<double>(*start);
        const auto rate = core::parse_double(fields[1]);
        if (!rate || *rate < 0)
            return error(fmt::format("expected a rate_req_per_s >= 0, found `{}`", fields[1]));
        window.rate_rps = *rate;
        const auto cv = core::parse_double(fields[2]);
        if (!cv || *cv < 0) return error(fmt::format("expected a cv >= 0, found `{}`", fields[2]));
        window.cv = *cv;
        const std::string_view name = trim(fields[3]);
        if (name.empty()) {
            window.shape = Shape::none;
        } else if (name == "Gamma") {
            window.shape = Shape::gamma;
        } else if (name == "Weibull") {
            window.shape = Shape::weibull;
        } else if (name == "Exponential") {
            window.shape = Shape::exponential;
        } else {
            return error(
                fmt::format("expected dist_name Weibull, Gamma, Exponential or empty, found `{}`", name));
        }
        const auto arg1 = core::parse_double(fields[4]);
        const auto arg2 = core::parse_double(fields[5]);
        if (!arg1 || !arg2) {
            return error(
                fmt::format("expected numbers for arg1 and arg2, found `{}` and `{}`", fields[4], fields[5]));
        }
        window.arg1 = *arg1;
        window.arg2 = *arg2;
        if (window.rate_rps > 0) {
            if (window.shape == Shape::none) {
                return error(
                    "expected a dist_name (Weibull, Gamma or Exponential) for a window with traffic");
            }
            if (window.shape != Shape::exponential && !(window.arg1 > 0)) {
                return error(fmt::format("expected a shape arg1 > 0 for {}, found {}", name, window.arg1));
            }
        }
        windows.push_back(window);
    }
    if (windows.size() != kWindowsPerDay) {
        return core::fail(fmt::format("{}: expected {} windows of 600 s (one day), found {}", path.string(),
                                      kWindowsPerDay, windows.size()));
    }
    return windows;
}

// Fills the client's token histograms from chunk-<id>-dataset.json.
core::Result<void> read_dataset(const std::filesystem::path& path, ServeGenClient& client) {
    const std::string name = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return core::fail(fmt::format("{}: cannot open", name));
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

    nlohmann::json root;
    try {
        root = nlohmann::json::parse(content);
    } catch (const nlohmann::json::exception& e) {
        return core::fail(fmt::format("{}: malformed JSON ({})", name, e.what()));
    }
    if (!root.is_object()) {
        return core::fail(fmt::format("{}: expected a JSON object keyed by 6-hour window start, found {}",
                                      name, root.type_name()));
    }
    for (const auto& [key, window] : root.items()) {
        const auto start = core::parse_integer(key);
        if (!start || *start < 0 || *start > std::numeric_limits<int>::max()) {
            return core::fail(
                fmt::format("{}: key `{}`: expected a window start in seconds (0, 21600, ...)", name, key));
        }
        if (!window.is_object()) {
            return core::fail(fmt::format(
                "{}: window {}: expected an object with input_tokens and output_tokens", name, key));
        }
        for (const std::string_view field :
             {std::string_view("input_tokens"), std::string_view("output_tokens")}) {
            const auto it = window.find(field);
            if (it == window.end() || !it->is_string()) {
                return core::fail(
                    fmt::format("{}: window {}: expected `{}` as a string holding a dict literal like "
                                "\"{{45: 0.01, 46: 0.02}}\"",
                                name, key, field));
            }
            auto histogram = parse_histogram_literal(it->get_ref<const std::string&>());
            if (!histogram) {
                return core::fail(
                    fmt::format("{}: window {}: {}: {}", name, key, field, histogram.error().message));
            }
            // An empty dict means no requests in that 6 hours; ServeGen skips it and falls back to the
            // previous window's histogram, and so do we.
            if (histogram->tokens.empty()) continue;
            auto& target = field == "input_tokens" ? client.input_tokens : client.output_tokens;
            target[static_cast<int>(*start)] = std::move(*histogram);
        }
    }
    for (const auto& window : client.windows) {
        if (window.rate_rps <= 0) continue;
        for (const auto* histograms : {&client.input_tokens, &client.output_tokens}) {
            if (find_histogram(*histograms, window.start_s) == nullptr) {
                return core::fail(fmt::format(
                    "{}: no {} histogram for the window at {} s, which has traffic in the trace (expected a "
                    "non-empty window at or before it)",
                    name, histograms == &client.input_tokens ? "input_tokens" : "output_tokens",
                    window.start_s));
            }
        }
    }
    return {};
}

struct ChunkFiles {
    std::filesystem::path trace;
    std::filesystem::path dataset;
};

// chunk-<id>-trace.csv / chunk-<id>-dataset.json; other files (README, LICENSE) are not ours.
std::optional<std::pair<int, bool>> chunk_file(std::string_view file_name) {
    constexpr std::string_view kPrefix = "chunk-";
    constexpr std::string_view kTrace = "-trace.csv";
    constexpr std::string_view kDataset = "-dataset.json";
    if (file_name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
    file_name.remove_prefix(kPrefix.size());
    int id = 0;
    const auto [end, ec] = std::from_chars(file_name.data(), file_name.data() + file_name.size(), id);
    if (ec != std::errc() || id < 0) return std::nullopt;
    const std::string_view rest(end, static_cast<std::size_t>(file_name.data() + file_name.size() - end));
    if (rest == kTrace) return std::pair{id, true};
    if (rest == kDataset) return std::pair{id, false};
    return std::nullopt;
}

template <class Distribution>
void fill(std::vector<double>& gaps, Distribution distribution, std::mt19937_64& rng) {
    for (auto& gap : gaps) gap = distribution(rng);
}

// n + 1 gaps with mean `mean_gap_s` and the window's shape; only their proportions matter afterwards.
void draw_gaps(const ServeGenWindow& window, double mean_gap_s, std::mt19937_64& rng,
               std::vector<double>& gaps) {
    switch (window.shape) {
        case Shape::gamma: {
            // Gamma(k, theta): mean k theta, CV 1 / sqrt(k).
            const double shape = window.arg1;
            fill(gaps, std::gamma_distribution<double>(shape, mean_gap_s / shape), rng);
            return;
        }
        case Shape::weibull: {
            // Weibull(k, lambda): mean lambda Gamma(1 + 1/k); the CV depends on k only. For a tiny k the
            // Gamma function overflows: the scale is then irrelevant, as the gaps are rescaled anyway.
            const double shape = window.arg1;
            double scale = mean_gap_s / std::tgamma(1.0 + 1.0 / shape);
            if (!std::isfinite(scale) || !(scale > 0)) scale = 1.0;
            fill(gaps, std::weibull_distribution<double>(shape, scale), rng);
            return;
        }
        case Shape::exponential:
        case Shape::none:
            fill(gaps, std::exponential_distribution<double>(1.0 / mean_gap_s), rng);
            return;
    }
}

// Appends the requests of one client's window [start_s, start_s + 600) to `out`, in arrival order.
void sample_window(const ServeGenClient& client, int day_index, double start_s, double rate_scale,
                   std::uint64_t seed, std::vector<double>& gaps, std::vector<RequestSpec>& out) {
    const ServeGenWindow& window = client.windows[static_cast<std::size_t>(day_index)];
    if (!(window.rate_rps > 0) || window.shape == Shape::none) return;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);

    const double rate = window.rate_rps * rate_scale;
    const double expected = rate * kWindowSeconds;
    auto count = static_cast<std::size_t>(std::floor(expected));
    if (unit(rng) < expected - std::floor(expected)) ++count;
    if (count == 0) return;

    gaps.resize(count + 1);
    draw_gaps(window, 1.0 / rate, rng, gaps);
    double total = 0;
    for (const double gap : gaps) total += gap;
    if (!(total > 0) || !std::isfinite(total)) {  // every draw underflowed: fall back to even spacing
        std::fill(gaps.begin(), gaps.end(), 1.0);
        total = static_cast<double>(gaps.size());
    }

    // Non-null: load() checked every window with traffic has both histograms.
    const TokenHistogram& input = *find_histogram(client.input_tokens, window.start_s);
    const TokenHistogram& output = *find_histogram(client.output_tokens, window.start_s);
    const double last_s = std::nextafter(start_s + kWindowSeconds, start_s);
    double cumulative = 0;
    for (std::size_t i = 0; i < count; ++i) {
        cumulative += gaps[i];
        const double arrival_s = std::min(start_s + kWindowSeconds * (cumulative / total), last_s);
        const int input_tokens = input.sample(unit(rng));
        const int output_tokens = output.sample(unit(rng));
        out.push_back(RequestSpec{core::Seconds(arrival_s), input_tokens, output_tokens});
    }
}

// Index of the day's window containing t, or nullopt for t < 0 / not finite.
std::optional<int> day_window(core::Seconds t) {
    const double t_s = t.value();
    if (!(t_s >= 0) || !std::isfinite(t_s)) return std::nullopt;
    const double in_day = std::fmod(t_s, ServeGenDay::kDaySeconds);
    return std::min(static_cast<int>(in_day / kWindowSeconds), kWindowsPerDay - 1);
}

}  // namespace

double TokenHistogram::mean() const {
    double sum = 0;
    double previous = 0;
    for (std::size_t i = 0; i < tokens.size() && i < cumulative.size(); ++i) {
        sum += (cumulative[i] - previous) * std::max(tokens[i], 1);
        previous = cumulative[i];
    }
    return sum;
}

int TokenHistogram::sample(double u) const {
    // First bin whose cumulative probability exceeds u (upper bound), so zero-probability bins are never
    // chosen. Branchless halving: it is the hot loop of sample() (thousands of bins, two draws a request)
    // and std::upper_bound's unpredictable branches cost about twice as much.
    if (cumulative.empty() || tokens.size() != cumulative.size()) return 1;  // misuse: see the header
    const double* base = cumulative.data();
    std::size_t n = cumulative.size();
    while (n > 1) {
        const std::size_t half = n / 2;
        base = base[half] <= u ? base + half : base;
        n -= half;
    }
    const auto index = static_cast<std::size_t>(base - cumulative.data()) + (*base <= u ? 1 : 0);
    return std::max(tokens[std::min(index, tokens.size() - 1)], 1);
}

core::Result<ServeGenDay> ServeGenDay::load(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        return core::fail(
            fmt::format("{}: cannot read the ServeGen day ({})", dir.string(),
                        std::filesystem::exists(dir, ec) ? "not a directory" : "no such directory"));
    }
    std::map<int, ChunkFiles> chunks;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto kind = chunk_file(it->path().filename().string());
        if (!kind) continue;
        auto& files = chunks[kind->first];
        (kind->second ? files.trace : files.dataset) = it->path();
    }
    if (ec) return core::fail(fmt::format("{}: cannot list the directory ({})", dir.string(), ec.message()));
    if (chunks.empty()) {
        return core::fail(
            fmt::format("{}: no chunk-<id>-trace.csv / chunk-<id>-dataset.json files", dir.string()));
    }

    ServeGenDay day;
    day.m_clients.reserve(chunks.size());
    for (const auto& [id, files] : chunks) {
        if (files.trace.empty() || files.dataset.empty()) {
            return core::fail(fmt::format("{}: client {} has chunk-{}-{} but no chunk-{}-{}", dir.string(),
                                          id, id, files.trace.empty() ? "dataset.json" : "trace.csv", id,
                                          files.trace.empty() ? "trace.csv" : "dataset.json"));
        }
        ServeGenClient client;
        client.id = id;
        auto windows = read_trace(files.trace);
        if (!windows) return tl::unexpected(windows.error());
        client.windows = std::move(*windows);
        if (auto loaded = read_dataset(files.dataset, client); !loaded) return tl::unexpected(loaded.error());
        day.m_clients.push_back(std::move(client));
    }
    return day;
}

bool ServeGenDay::valid_request(double rate_scale, double duration_s) {
    return rate_scale > 0 && std::isfinite(rate_scale) && duration_s > 0 && std::isfinite(duration_s);
}

std::int64_t ServeGenDay::window_count(double duration_s) {
    return static_cast<std::int64_t>(std::ceil(duration_s / kWindowSeconds));
}

void ServeGenDay::sample_window_batch(std::int64_t w, double rate_scale, std::uint64_t seed,
                                      std::vector<RequestSpec>& batch, std::vector<double>& gaps) const {
    const int day_index = static_cast<int>(w % kWindowsPerDay);
    const double start_s = static_cast<double>(w) * kWindowSeconds;
    batch.clear();
    for (const auto& client : m_clients) {
        sample_window(client, day_index, start_s, rate_scale, stream_seed(seed, client.id, w), gaps, batch);
    }
    // Windows do not overlap: sorting each window's requests sorts the whole.
    std::sort(batch.begin(), batch.end(),
              [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; });
}

Workload ServeGenDay::sample(double rate_scale, core::Seconds duration, std::uint64_t seed) const {
    const double duration_s = duration.value();
    if (!valid_request(rate_scale, duration_s)) return {};
    const std::int64_t windows = window_count(duration_s);

    double expected = 0;
    for (std::int64_t w = 0; w < windows; ++w) {
        expected += total_rate_rps(core::Seconds(static_cast<double>(w) * kWindowSeconds));
    }
    Workload workload;
    workload.reserve(static_cast<std::size_t>(expected * rate_scale * kWindowSeconds * 1.01) + 64);

    std::vector<RequestSpec> batch;
    std::vector<double> gaps;
    for (std::int64_t w = 0; w < windows; ++w) {
        sample_window_batch(w, rate_scale, seed, batch, gaps);
        for (const auto& request : batch) {
            if (request.arrival.value() >= duration_s) break;
            workload.push_back(request);
        }
    }
    return workload;
}

namespace {

// sample()'s loop turned inside out: one window's batch at a time, drawn when the reader reaches it.
class ServeGenStream final : public RequestStream {
public:
    ServeGenStream(std::shared_ptr<const ServeGenDay> day, double rate_scale, double duration_s, std::uint64_t seed,
                   std::int64_t windows)
        : m_day(std::move(day)), m_rate_scale(rate_scale), m_duration_s(duration_s), m_seed(seed), m_windows(windows) {}

    std::optional<RequestSpec> next() override {
        while (m_next >= m_batch.size()) {
            if (m_window >= m_windows) return std::nullopt;
            m_day->sample_window_batch(m_window++, m_rate_scale, m_seed, m_batch, m_gaps);
            m_next = 0;
        }
        const RequestSpec& request = m_batch[m_next++];
        if (request.arrival.value() >= m_duration_s) {  // the rest of the last window is past the end
            m_next = m_batch.size();
            m_window = m_windows;
            return std::nullopt;
        }
        return request;
    }

private:
    std::shared_ptr<const ServeGenDay> m_day;
    double m_rate_scale;
    double m_duration_s;
    std::uint64_t m_seed;
    std::int64_t m_windows;
    std::int64_t m_window = 0;
    std::vector<RequestSpec> m_batch;
    std::size_t m_next = 0;
    std::vector<double> m_gaps;
};

class ServeGenSource final : public WorkloadSource {
public:
    ServeGenSource(std::shared_ptr<const ServeGenDay> day, double rate_scale, double duration_s, std::uint64_t seed)
        : m_day(std::move(day)), m_rate_scale(rate_scale), m_duration_s(duration_s), m_seed(seed) {}

    [[nodiscard]] std::unique_ptr<RequestStream> open() const override {
        const std::int64_t windows =
            ServeGenDay::valid_request(m_rate_scale, m_duration_s) ? ServeGenDay::window_count(m_duration_s) : 0;
        return std::make_unique<ServeGenStream>(m_day, m_rate_scale, m_duration_s, m_seed, windows);
    }

private:
    std::shared_ptr<const ServeGenDay> m_day;
    double m_rate_scale;
    double m_duration_s;
    std::uint64_t m_seed;
};

}  // namespace

std::shared_ptr<const WorkloadSource> ServeGenDay::source(std::shared_ptr<const ServeGenDay> day, double rate_scale,
                                                          core::Seconds duration, std::uint64_t seed) {
    return std::make_shared<const ServeGenSource>(std::move(day), rate_scale, duration.value(), seed);
}

double ServeGenDay::total_rate_rps(core::Seconds t) const {
    const auto index = day_window(t);
    if (!index) return 0;
    double total = 0;
    for (const auto& client : m_clients) total += client.windows[static_cast<std::size_t>(*index)].rate_rps;
    return total;
}

namespace {

double mean_tokens(const std::vector<ServeGenClient>& clients, core::Seconds t,
                   std::map<int, TokenHistogram> ServeGenClient::*histograms) {
    const auto index = day_window(t);
    if (!index) return 0;
    double weighted = 0;
    double total_rate = 0;
    for (const auto& client : clients) {
        const ServeGenWindow& window = client.windows[static_cast<std::size_t>(*index)];
        if (!(window.rate_rps > 0)) continue;
        const TokenHistogram* histogram = find_histogram(client.*histograms, window.start_s);
        if (histogram == nullptr) continue;  // load() rules this out for windows with traffic
        weighted += window.rate_rps * histogram->mean();
        total_rate += window.rate_rps;
    }
    return total_rate > 0 ? weighted / total_rate : 0;
}

}  // namespace

double ServeGenDay::mean_input_tokens(core::Seconds t) const {
    return mean_tokens(m_clients, t, &ServeGenClient::input_tokens);
}

double ServeGenDay::mean_output_tokens(core::Seconds t) const {
    return mean_tokens(m_clients, t, &ServeGenClient::output_tokens);
}

}  // namespace joulepilot::twin
