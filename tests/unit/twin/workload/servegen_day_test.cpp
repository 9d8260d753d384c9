#include "twin/workload/servegen_day.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>

namespace joulepilot::twin {
namespace {

using core::Seconds;

const std::filesystem::path kFixture =
    std::filesystem::path(JOULEPILOT_TEST_FIXTURES) / "traces" / "servegen";
const std::filesystem::path kRealDay =
    std::filesystem::path(JOULEPILOT_DATA_DIR) / "servegen-deepseek-r1-1day";

// Loaded once: every test only reads it.
const ServeGenDay& fixture_day() {
    static const ServeGenDay day = [] {
        auto loaded = ServeGenDay::load(kFixture);
        if (!loaded) throw std::runtime_error(loaded.error().message);
        return std::move(*loaded);
    }();
    return day;
}

bool by_arrival(const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; }

// Coefficient of variation of the gaps between consecutive arrivals.
double gap_cv(const std::vector<double>& arrivals) {
    std::vector<double> gaps;
    for (std::size_t i = 1; i < arrivals.size(); ++i) gaps.push_back(arrivals[i] - arrivals[i - 1]);
    double mean = 0;
    for (const double gap : gaps) mean += gap;
    mean /= static_cast<double>(gaps.size());
    double variance = 0;
    for (const double gap : gaps) variance += (gap - mean) * (gap - mean);
    variance /= static_cast<double>(gaps.size());
    return std::sqrt(variance) / mean;
}

// Mean over the given 600 s windows of the gap CV of the requests `select` picks in each window.
double mean_window_cv(const Workload& workload, int first_window, int last_window,
                      const std::function<bool(const RequestSpec&)>& select) {
    double sum = 0;
    for (int w = first_window; w <= last_window; ++w) {
        std::vector<double> arrivals;
        for (const auto& request : workload) {
            const double t = request.arrival.value();
            if (t >= w * 600.0 && t < (w + 1) * 600.0 && select(request)) arrivals.push_back(t);
        }
        sum += gap_cv(arrivals);
    }
    return sum / (last_window - first_window + 1);
}

TEST(ServeGenDay, LoadsEveryClientSortedById) {
    const ServeGenDay& day = fixture_day();
    ASSERT_EQ(day.clients().size(), 2U);  // README.md in the fixture directory is ignored
    const ServeGenClient& first = day.clients()[0];
    const ServeGenClient& second = day.clients()[1];
    EXPECT_EQ(first.id, 0);
    EXPECT_EQ(second.id, 7);
    ASSERT_EQ(first.windows.size(), 144U);
    ASSERT_EQ(second.windows.size(), 144U);

    EXPECT_EQ(first.windows[0].shape, ServeGenWindow::Shape::gamma);
    EXPECT_DOUBLE_EQ(first.windows[0].rate_rps, 10.0);
    EXPECT_DOUBLE_EQ(first.windows[0].cv, 2.0);
    EXPECT_DOUBLE_EQ(first.windows[0].arg1, 0.25);
    EXPECT_DOUBLE_EQ(first.windows[0].arg2, 0.8);
    EXPECT_EQ(first.windows[40].shape, ServeGenWindow::Shape::none);
    EXPECT_DOUBLE_EQ(first.windows[143].start_s, 85800.0);
    EXPECT_EQ(second.windows[0].shape, ServeGenWindow::Shape::weibull);
    EXPECT_EQ(second.windows[36].shape, ServeGenWindow::Shape::exponential);

    // Empty 6-hour dicts are not kept (sampling falls back to the previous window, as ServeGen does).
    ASSERT_EQ(first.input_tokens.size(), 2U);
    EXPECT_EQ(first.input_tokens.begin()->first, 0);
    EXPECT_EQ(std::next(first.input_tokens.begin())->first, 43200);
    const TokenHistogram& output = second.output_tokens.at(0);
    EXPECT_EQ(output.tokens, (std::vector<int>{5, 7, 9}));
    ASSERT_EQ(output.cumulative.size(), 3U);
    EXPECT_NEAR(output.cumulative[0], 0.1, 1e-12);
    EXPECT_NEAR(output.cumulative[1], 0.1, 1e-12);
    EXPECT_EQ(output.cumulative[2], 1.0);
}

TEST(ServeGenDay, TokenHistogramMeanAndInverseCdf) {
    const TokenHistogram histogram{{0, 5, 7, 9}, {0.2, 0.3, 0.3, 1.0}};
    EXPECT_DOUBLE_EQ(histogram.mean(), 0.2 * 1 + 0.1 * 5 + 0.7 * 9);  // a 0-token bin counts as 1
    EXPECT_EQ(histogram.sample(0.0), 1);                              // clamped to >= 1
    EXPECT_EQ(histogram.sample(0.1999), 1);
    EXPECT_EQ(histogram.sample(0.2), 5);
    EXPECT_EQ(histogram.sample(0.3), 9);  // the zero-probability bin 7 is never drawn
    EXPECT_EQ(histogram.sample(0.9999999), 9);
    EXPECT_EQ(histogram.sample(1.0), 9);  // guard for a draw of exactly 1
    EXPECT_EQ(TokenHistogram{}.mean(), 0.0);
}

TEST(ServeGenDay, RatesAndRateWeightedMeansPerWindow) {
    const ServeGenDay& day = fixture_day();
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(0)), 12.0);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(599.9)), 12.0);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(600)), 3.0);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(21600)), 0.25);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(43200)), 0.5);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(64800)), 3.5);
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(86400 + 300)), 12.0);  // the day repeats
    EXPECT_DOUBLE_EQ(day.total_rate_rps(Seconds(-1)), 0.0);

    EXPECT_NEAR(day.mean_input_tokens(Seconds(0)), (10 * 150.0 + 2 * 1000.0) / 12, 1e-9);
    EXPECT_NEAR(day.mean_output_tokens(Seconds(0)), (10 * 17.5 + 2 * 8.6) / 12, 1e-9);
    EXPECT_NEAR(day.mean_input_tokens(Seconds(21600)), 360.0, 1e-9);  // client 7 alone
    EXPECT_NEAR(day.mean_output_tokens(Seconds(21600)), 50.0, 1e-9);
    // Client 0's 64800 dict is empty: its 43200 histogram applies.
    EXPECT_NEAR(day.mean_input_tokens(Seconds(64800)), (0.5 * 40.2 + 3 * 2000.0) / 3.5, 1e-9);
    EXPECT_NEAR(day.mean_output_tokens(Seconds(64800)), (0.5 * 1.0 + 3 * 200.0) / 3.5, 1e-9);
    EXPECT_EQ(day.mean_input_tokens(Seconds(-5)), 0.0);
}

TEST(ServeGenDay, SampleHoldsEachWindowsCountSortedAndDeterministic) {
    const ServeGenDay& day = fixture_day();
    const Workload workload = day.sample(1.0, Seconds(ServeGenDay::kDaySeconds), 42);
    // rate x 600 per client and window: 48,600 + 113,400 (see the fixture's README.md).
    ASSERT_EQ(workload.size(), 162000U);
    EXPECT_TRUE(std::is_sorted(workload.begin(), workload.end(), by_arrival));
    EXPECT_GE(workload.front().arrival.value(), 0.0);
    EXPECT_LT(workload.back().arrival.value(), ServeGenDay::kDaySeconds);

    std::vector<int> per_window(144, 0);
    for (const auto& request : workload)
        ++per_window[static_cast<std::size_t>(request.arrival.value() / 600)];
    EXPECT_EQ(per_window[0], 7200);
    EXPECT_EQ(per_window[1], 1800);
    EXPECT_EQ(per_window[36], 150);
    EXPECT_EQ(per_window[80], 300);
    EXPECT_EQ(per_window[120], 2100);

    const Workload again = day.sample(1.0, Seconds(ServeGenDay::kDaySeconds), 42);
    ASSERT_EQ(again.size(), workload.size());
    EXPECT_TRUE(std::equal(workload.begin(), workload.end(), again.begin(), [](const auto& a, const auto& b) {
        return a.arrival == b.arrival && a.input_tokens == b.input_tokens &&
               a.output_tokens == b.output_tokens;
    }));
    const Workload other = day.sample(1.0, Seconds(ServeGenDay::kDaySeconds), 43);
    ASSERT_EQ(other.size(), workload.size());  // counts follow the rates, the times follow the seed
    EXPECT_NE(other[100].arrival, workload[100].arrival);
}

bool same_requests(const Workload& a, const Workload& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
               return x.arrival.value() == y.arrival.value() && x.input_tokens == y.input_tokens &&
                      x.output_tokens == y.output_tokens;
           });
}

TEST(ServeGenDay, SourceStreamsExactlyWhatSampleReturns) {
    // The lazy form the twin's fleet reads must be sample() bit for bit: durations inside a window, on a
    // window's edge and past a day; scales below and above 1; a seed of its own.
    const auto day = std::make_shared<const ServeGenDay>(fixture_day());
    const std::vector<std::pair<double, double>> cases = {
        {0.37, 450.0}, {2.5, 1200.0}, {1.0, ServeGenDay::kDaySeconds + 900.0}};
    for (const auto& [scale, duration] : cases) {
        const Workload sampled = day->sample(scale, Seconds(duration), 7);
        const auto source = ServeGenDay::source(day, scale, Seconds(duration), 7);
        const auto stream = source->open();
        EXPECT_FALSE(sampled.empty());
        EXPECT_TRUE(same_requests(sampled, read_all(*stream))) << "scale " << scale << ", duration " << duration;
        EXPECT_FALSE(stream->next());  // stays exhausted
        // Every stream starts from the first request.
        const auto again = source->open()->next();
        ASSERT_TRUE(again);
        EXPECT_EQ(again->arrival.value(), sampled.front().arrival.value());
    }
    // Nothing asked, nothing given, like sample().
    EXPECT_FALSE(ServeGenDay::source(day, 0.0, Seconds(600), 7)->open()->next());
    EXPECT_FALSE(ServeGenDay::source(day, 1.0, Seconds(0), 7)->open()->next());
}

TEST(ServeGenDay, TokensComeFromTheHistogramsSupport) {
    const Workload workload = fixture_day().sample(1.0, Seconds(ServeGenDay::kDaySeconds), 7);
    const std::set<int> inputs{1, 50, 100, 200, 300, 400, 1000, 2000};
    const std::set<int> outputs{1, 5, 9, 10, 20, 50, 100, 300};  // never 7: zero probability
    double client0_input = 0;
    double client0_count = 0;
    for (const auto& request : workload) {
        ASSERT_TRUE(inputs.count(request.input_tokens) == 1) << request.input_tokens;
        ASSERT_TRUE(outputs.count(request.output_tokens) == 1) << request.output_tokens;
        if (request.arrival.value() < 21600 && request.input_tokens != 1000) {  // client 0's first 6 hours
            client0_input += request.input_tokens;
            ++client0_count;
        }
    }
    EXPECT_EQ(client0_count, 6000 + 35 * 600);
    EXPECT_NEAR(client0_input / client0_count, 150.0, 2.0);
}

TEST(ServeGenDay, GapsKeepTheWindowsBurstiness) {
    const Workload workload = fixture_day().sample(1.0, Seconds(ServeGenDay::kDaySeconds), 3);
    // Client 0, first 6 hours: Gamma with shape 0.25, CV 2 (client 7 sends 1000-token prompts then).
    const auto client0 = [](const RequestSpec& r) { return r.input_tokens != 1000; };
    EXPECT_NEAR(mean_window_cv(workload, 0, 35, client0), 2.0, 0.3);
    // Client 7, first 6 hours: Weibull with shape 0.5, CV sqrt(5).
    const auto client7 = [](const RequestSpec& r) { return r.input_tokens == 1000; };
    EXPECT_NEAR(mean_window_cv(workload, 0, 35, client7), std::sqrt(5.0), 0.4);
    // Client 0 alone, windows 72-107: Gamma with shape 4, CV 0.5.
    const auto all = [](const RequestSpec&) { return true; };
    EXPECT_NEAR(mean_window_cv(workload, 72, 107, all), 0.5, 0.1);
    // Client 7 alone, windows 36-71: exponential, CV 1.
    EXPECT_NEAR(mean_window_cv(workload, 36, 71, all), 1.0, 0.2);
}

TEST(ServeGenDay, ShorterDurationIsAPrefixAndLongerRepeatsTheDay) {
    const ServeGenDay& day = fixture_day();
    const Workload hour = day.sample(1.0, Seconds(3599.5), 11);
    const Workload full = day.sample(1.0, Seconds(ServeGenDay::kDaySeconds), 11);
    ASSERT_LT(hour.size(), full.size());
    ASSERT_GT(hour.size(), 0U);
    EXPECT_LT(hour.back().arrival.value(), 3599.5);
    for (std::size_t i = 0; i < hour.size(); ++i) {
        ASSERT_EQ(hour[i].arrival, full[i].arrival) << i;
        ASSERT_EQ(hour[i].output_tokens, full[i].output_tokens) << i;
    }

    const Workload two_days = day.sample(1.0, Seconds(2 * ServeGenDay::kDaySeconds), 11);
    EXPECT_EQ(two_days.size(), 2 * full.size());
    EXPECT_TRUE(std::is_sorted(two_days.begin(), two_days.end(), by_arrival));
    EXPECT_NE(two_days[full.size()].arrival.value() - ServeGenDay::kDaySeconds, full[0].arrival.value());

    EXPECT_TRUE(day.sample(0.0, Seconds(600), 1).empty());
    EXPECT_TRUE(day.sample(1.0, Seconds(0), 1).empty());
    EXPECT_TRUE(day.sample(std::nan(""), Seconds(600), 1).empty());
}

TEST(ServeGenDay, RateScaleScalesTheCountOfEveryWindow) {
    // Property: any scale gives, per client and window, floor or ceil of rate x scale x 600 requests,
    // sorted and inside [0, duration).
    const ServeGenDay& day = fixture_day();
    const bool ok = rc::check("rate_scale scales every window's count", [&day] {
        const double scale = *rc::gen::inRange(1, 300) / 100.0;
        const double duration_s = *rc::gen::inRange(1, 1800);
        const auto seed = *rc::gen::arbitrary<std::uint64_t>();
        const Workload workload = day.sample(scale, Seconds(duration_s), seed);
        RC_ASSERT(std::is_sorted(workload.begin(), workload.end(), by_arrival));
        double low = 0;
        double high = 0;
        for (int w = 0; w * 600.0 < duration_s; ++w) {
            const double full = w * 600.0 + 600 <= duration_s ? 1 : 0;  // only whole windows are predictable
            for (const auto& client : day.clients()) {
                const double expected = client.windows[static_cast<std::size_t>(w)].rate_rps * scale * 600;
                low += full * std::floor(expected - 1e-9);
                high += std::ceil(expected + 1e-9);
            }
        }
        RC_ASSERT(static_cast<double>(workload.size()) >= low);
        RC_ASSERT(static_cast<double>(workload.size()) <= high);
        if (!workload.empty()) {
            RC_ASSERT(workload.front().arrival.value() >= 0.0);
            RC_ASSERT(workload.back().arrival.value() < duration_s);
        }
    });
    EXPECT_TRUE(ok);
}

// A copy of the fixture directory in which a test can break one file.
class BrokenDay {
  public:
    BrokenDay() {
        static std::atomic<int> counter{0};
        m_dir = std::filesystem::path(::testing::TempDir()) /
                fmt::format("jp_servegen_{}_{}", ::getpid(), counter++);
        std::filesystem::remove_all(m_dir);
        std::filesystem::create_directories(m_dir);
        for (const auto& entry : std::filesystem::directory_iterator(kFixture)) {
            std::filesystem::copy_file(entry.path(), m_dir / entry.path().filename());
        }
    }
    ~BrokenDay() {
        std::error_code ec;
        std::filesystem::remove_all(m_dir, ec);
    }
    BrokenDay(const BrokenDay&) = delete;
    BrokenDay& operator=(const BrokenDay&) = delete;

    [[nodiscard]] const std::filesystem::path& dir() const { return m_dir; }
    [[nodiscard]] std::string read(const std::string& name) const {
        std::ifstream in(m_dir / name);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    void write(const std::string& name, const std::string& content) const {
        std::ofstream(m_dir / name, std::ios::trunc) << content;
    }
    // Replaces the first occurrence of `from` in file `name`.
    void replace(const std::string& name, const std::string& from, const std::string& to) const {
        std::string content = read(name);
        const auto at = content.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        content.replace(at, from.size(), to);
        write(name, content);
    }

  private:
    std::filesystem::path m_dir;
};

void expect_load_error(const BrokenDay& day, const std::string& where, const std::string& what) {
    const auto loaded = ServeGenDay::load(day.dir());
    ASSERT_FALSE(loaded) << "loaded a broken day (" << what << ")";
    const std::string& message = loaded.error().message;
    const std::string place = where.empty() ? day.dir().string() : (day.dir() / where).string();
    EXPECT_NE(message.find(place), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
}

TEST(ServeGenDayLoad, RejectsAMissingOrEmptyDirectory) {
    const auto missing = ServeGenDay::load(kFixture / "nowhere");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("nowhere: cannot read the ServeGen day (no such directory)"),
              std::string::npos)
        << missing.error().message;

    const BrokenDay day;
    for (const char* name :
         {"chunk-0-trace.csv", "chunk-0-dataset.json", "chunk-7-trace.csv", "chunk-7-dataset.json"}) {
        std::filesystem::remove(day.dir() / name);
    }
    expect_load_error(day, "", "no chunk-<id>-trace.csv");
}

TEST(ServeGenDayLoad, RejectsATraceWithoutItsDataset) {
    const BrokenDay day;
    std::filesystem::remove(day.dir() / "chunk-7-dataset.json");
    expect_load_error(day, "", "client 7 has chunk-7-trace.csv but no chunk-7-dataset.json");
}

TEST(ServeGenDayLoad, RejectsBadTraceRows) {
    struct Case {
        std::string from;
        std::string to;
        std::string where;
        std::string what;
    };
    const std::vector<Case> cases = {
        {"0,10,2.0,Gamma,0.25,0.8\n", "0,10,2.0,Gamma,0.25\n", "chunk-0-trace.csv:1:", "expected 6 fields"},
        {"1200,1,2.0,", "1300,1,2.0,", "chunk-0-trace.csv:3:", "expected window_start_s 1200"},
        {"600,1,2.0,Gamma", "600,fast,2.0,Gamma", "chunk-0-trace.csv:2:", "expected a rate_req_per_s >= 0"},
        {"600,1,2.0,Gamma", "600,-1,2.0,Gamma", "chunk-0-trace.csv:2:", "expected a rate_req_per_s >= 0"},
        {"600,1,2.0,Gamma", "600,1,2.0,Lognormal", "chunk-0-trace.csv:2:",
         "expected dist_name Weibull, Gamma, Exponential or empty, found `Lognormal`"},
        {"600,1,2.0,Gamma,0.25", "600,1,2.0,,0.25", "chunk-0-trace.csv:2:", "expected a dist_name"},
        {"600,1,2.0,Gamma,0.25", "600,1,2.0,Gamma,0", "chunk-0-trace.csv:2:", "expected a shape arg1 > 0"},
        {"600,1,2.0,Gamma,0.25,0.8", "600,1,2.0,Gamma,0.25,x",
         "chunk-0-trace.csv:2:", "expected numbers for arg1"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const BrokenDay day;
        day.replace("chunk-0-trace.csv", c.from, c.to);
        expect_load_error(day, c.where, c.what);
    }

    const BrokenDay short_day;  // a truncated file: the last row is gone
    std::string content = short_day.read("chunk-7-trace.csv");
    content.erase(content.rfind("85800,"));
    short_day.write("chunk-7-trace.csv", content);
    expect_load_error(short_day, "chunk-7-trace.csv", "expected 144 windows of 600 s (one day), found 143");

    const BrokenDay long_day;
    long_day.write("chunk-7-trace.csv", long_day.read("chunk-7-trace.csv") + "86400,0,0,,0,0\n");
    expect_load_error(long_day, "chunk-7-trace.csv:145:", "expected 144 windows");
}

TEST(ServeGenDayLoad, RejectsBadDatasets) {
    struct Case {
        std::string from;
        std::string to;
        std::string what;
    };
    const std::vector<Case> cases = {
        {"\"0\": {", "\"0\": [", "malformed JSON"},
        {"\"21600\": {", "\"six hours\": {", "key `six hours`: expected a window start"},
        {"{100: 0.5, 200: 0.5}", "{100 0.5, 200: 0.5}",
         "window 0: input_tokens: at character 5: expected `:`"},
        {"{100: 0.5, 200: 0.5}", "{100: 0.5; 200: 0.5}", "expected `,` or `}`"},
        {"{100: 0.5, 200: 0.5}", "{100: 0.5, 200: 0.5", "expected `,` or `}`, found `end of text`"},
        {"{100: 0.5, 200: 0.5}", "{-100: 0.5, 200: 0.5}", "a token count in [0, 2^31)"},
        {"{100: 0.5, 200: 0.5}", "{100: 0.5, 200: -0.5}", "expected a probability >= 0"},
        {"{100: 0.5, 200: 0.5}", "{100: 0.5, 200: 0.25}", "probabilities sum to 0.75, expected 1"},
        {"{100: 0.5, 200: 0.5}", "{100: 0.5, 100: 0.5}", "token count 100 appears twice"},
        {"\"output_tokens\": \"{10: 0.25, 20: 0.75}\"", "\"output_tokens\": 17",
         "window 0: expected `output_tokens` as a string"},
        // Client 0 has traffic from 0 s but would have no input histogram at or before it.
        {"{100: 0.5, 200: 0.5}", "{}", "no input_tokens histogram for the window at 0 s"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const BrokenDay day;
        day.replace("chunk-0-dataset.json", c.from, c.to);
        expect_load_error(day, "chunk-0-dataset.json", c.what);
    }
}

TEST(ServeGenDay, LoadsTheShippedDeepSeekDay) {
    const auto day = ServeGenDay::load(kRealDay);
    ASSERT_TRUE(day) << day.error().message;
    EXPECT_EQ(day->clients().size(), 73U);
    // From data/servegen-deepseek-r1-1day/README.md.
    EXPECT_NEAR(day->total_rate_rps(Seconds(79800)), 42.5, 0.05);
    EXPECT_NEAR(day->total_rate_rps(Seconds(45600)), 4.3, 0.05);
    double sum = 0;
    double expected_two_hours = 0;
    for (int w = 0; w < 144; ++w) {
        const double rate = day->total_rate_rps(Seconds(w * 600.0));
        sum += rate;
        if (w < 12) expected_two_hours += rate * 600;
    }
    EXPECT_NEAR(sum / 144, 16.0, 0.05);
    EXPECT_GT(day->mean_input_tokens(Seconds(0)), 1.0);
    EXPECT_GT(day->mean_output_tokens(Seconds(0)), day->mean_input_tokens(Seconds(0)));  // a reasoning model

    const Workload workload = day->sample(1.0, Seconds(7200), 2024);
    EXPECT_EQ(static_cast<double>(workload.size()), std::round(expected_two_hours));
    EXPECT_TRUE(std::is_sorted(workload.begin(), workload.end(), by_arrival));
    EXPECT_TRUE(std::all_of(workload.begin(), workload.end(),
                            [](const auto& r) { return r.input_tokens >= 1 && r.output_tokens >= 1; }));
}

}  // namespace
}  // namespace joulepilot::twin
