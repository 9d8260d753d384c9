#pragma once
// The ServeGen DeepSeek-R1 day (data/servegen-deepseek-r1-1day): per client ("chunk") and 10-minute
// window, a request rate and an inter-arrival distribution (Weibull, Gamma or Exponential with the
// window's coefficient of variation); per client and 6-hour window, distributions of input and output
// token counts. Sampling draws arrivals per client and window from those distributions and token lengths
// from the 6-hour histograms, so the day keeps its real shape. Deterministic for a given seed.

#include <cstdint>
#include <filesystem>
#include <map>
#include <vector>

#include "core/result.hpp"
#include "twin/workload/request_spec.hpp"

namespace joulepilot::twin {

struct ServeGenWindow {
    double start_s = 0;
    double rate_rps = 0;
    double cv = 0;
    enum class Shape { none, exponential, gamma, weibull } shape = Shape::none;
    double arg1 = 0;  // the distribution's parameters as given in the file
    double arg2 = 0;
};

// A discrete distribution over token counts: sorted bins with cumulative probabilities.
struct TokenHistogram {
    std::vector<int> tokens;
    std::vector<double> cumulative;  // last element 1.0
    [[nodiscard]] double mean() const;
};

struct ServeGenClient {
    int id = 0;
    std::vector<ServeGenWindow> windows;             // 144 windows of 600 s
    std::map<int, TokenHistogram> input_tokens;      // key: 6-hour window start (0, 21600, ...)
    std::map<int, TokenHistogram> output_tokens;
};

class ServeGenDay {
public:
    // Reads every chunk-<id>-trace.csv / chunk-<id>-dataset.json pair in `dir`.
    static core::Result<ServeGenDay> load(const std::filesystem::path& dir);

    // Requests over [0, duration) with every client's rate multiplied by `rate_scale`.
    [[nodiscard]] Workload sample(double rate_scale, core::Seconds duration, std::uint64_t seed) const;

    // Total request rate of the 10-minute window containing t, unscaled.
    [[nodiscard]] double total_rate_rps(core::Seconds t) const;
    // Rate-weighted mean input / output tokens of the 10-minute window containing t.
    [[nodiscard]] double mean_input_tokens(core::Seconds t) const;
    [[nodiscard]] double mean_output_tokens(core::Seconds t) const;
    [[nodiscard]] const std::vector<ServeGenClient>& clients() const { return m_clients; }
    static constexpr double kWindowSeconds = 600.0;
    static constexpr double kDaySeconds = 86400.0;

private:
    std::vector<ServeGenClient> m_clients;
};

}  // namespace joulepilot::twin
