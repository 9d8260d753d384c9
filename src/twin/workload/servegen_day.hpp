#pragma once
// The ServeGen DeepSeek-R1 day (data/servegen-deepseek-r1-1day): per client ("chunk") and 10-minute
// window, a request rate and an inter-arrival distribution (Weibull, Gamma or Exponential with the
// window's coefficient of variation); per client and 6-hour window, distributions of input and output
// token counts. Sampling draws arrivals per client and window from those distributions and token lengths
// from the 6-hour histograms, so the day keeps its real shape. Deterministic for a given seed.
//
// How a window is sampled (as ServeGen's own generator does, see servegen_day.cpp): a window's rate is a
// measured count (rate x 600 s is a whole number in the data), so a client's window gets
// rate x rate_scale x 600 requests (the fraction rounded up with its probability); the window's
// distribution only shapes the gaps between them: arg1 is its shape (which fixes the CV), the scale is
// re-derived from the rate. Input and output lengths are drawn independently from the client's histograms
// of the 6-hour window (the latest non-empty one at or before the 10-minute window), clamped to >= 1.
// A duration past one day repeats the day (with fresh draws).
// Thread safety: a loaded day is immutable; sample() and the queries may run concurrently.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "core/result.hpp"
#include "twin/workload/request_spec.hpp"
#include "twin/workload/request_stream.hpp"

namespace joulepilot::twin {

struct ServeGenWindow {
    double start_s = 0;
    double rate_rps = 0;
    double cv = 0;
    enum class Shape { none, exponential, gamma, weibull } shape = Shape::none;
    double arg1 = 0;  // the distribution's parameters as given in the file: arg1 = shape (scipy `a` / `c`),
    double arg2 = 0;  // arg2 = its fitted scale (unused: the scale follows from the rate)
};

// A discrete distribution over token counts: sorted bins with cumulative probabilities.
struct TokenHistogram {
    std::vector<int> tokens;
    std::vector<double> cumulative;  // last element 1.0
    // Mean token count as sampled (bins below 1 count as 1); 0 for an empty histogram.
    [[nodiscard]] double mean() const;
    // Inverse CDF: the token count (>= 1) for a uniform draw u in [0, 1); 1 for an empty histogram.
    [[nodiscard]] int sample(double u) const;
};

struct ServeGenClient {
    int id = 0;
    std::vector<ServeGenWindow> windows;             // 144 windows of 600 s
    std::map<int, TokenHistogram> input_tokens;      // key: 6-hour window start (0, 21600, ...)
    std::map<int, TokenHistogram> output_tokens;
};

class ServeGenDay {
public:
    // Reads every chunk-<id>-trace.csv / chunk-<id>-dataset.json pair in `dir` (clients sorted by id).
    // Errors name the file and the line or the 6-hour window: missing directory, no chunk files, a trace
    // without its dataset (or the reverse), not 144 rows of 600 s from 0, bad fields, unknown distribution,
    // malformed JSON or histogram literal, no token histogram for a window with traffic.
    static core::Result<ServeGenDay> load(const std::filesystem::path& dir);

    // Requests over [0, duration) with every client's rate multiplied by `rate_scale`, sorted by arrival.
    // rate_scale <= 0 or a duration <= 0 (or either non-finite) gives an empty workload. The result for a
    // shorter duration is a prefix of the result for a longer one (same seed and scale).
    [[nodiscard]] Workload sample(double rate_scale, core::Seconds duration, std::uint64_t seed) const;
    // The same requests as sample(rate_scale, duration, seed), bit for bit, drawn one 10-minute window at a
    // time as a stream is read: a stream holds one window's requests, never the day. The source shares `day`.
    static std::shared_ptr<const WorkloadSource> source(std::shared_ptr<const ServeGenDay> day, double rate_scale,
                                                        core::Seconds duration, std::uint64_t seed);

    // Total request rate of the 10-minute window containing t, unscaled (times past a day repeat the day).
    [[nodiscard]] double total_rate_rps(core::Seconds t) const;
    // Rate-weighted mean input / output tokens of the 10-minute window containing t (0 without traffic).
    // For all three, t < 0 has no traffic.
    [[nodiscard]] double mean_input_tokens(core::Seconds t) const;
    [[nodiscard]] double mean_output_tokens(core::Seconds t) const;
    [[nodiscard]] const std::vector<ServeGenClient>& clients() const { return m_clients; }
    static constexpr double kWindowSeconds = 600.0;
    static constexpr double kDaySeconds = 86400.0;

    // What sample() and the streams share: whether (rate_scale, duration) asks for any request, how many
    // windows cover the duration, and the sorted requests of absolute window w (into `batch`).
    static bool valid_request(double rate_scale, double duration_s);
    static std::int64_t window_count(double duration_s);
    void sample_window_batch(std::int64_t w, double rate_scale, std::uint64_t seed, std::vector<RequestSpec>& batch,
                             std::vector<double>& gaps) const;

private:
    std::vector<ServeGenClient> m_clients;
};

}  // namespace joulepilot::twin
