#include "twin/replica/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Dense>

#include "twin/replica/calibration_sources.hpp"

namespace joulepilot::twin {
namespace {

// --- Stated facts and assumptions (each is listed in the report with its reason) ---------------------
constexpr double kLlama8bParams = 8.03e9;       // Llama-3.1-8B / Llama-3-8B parameter count
constexpr double kLlama2_70bParams = 68.98e9;   // Llama-2-70B parameter count
constexpr double kSplitwiseTensorParallel = 2;  // the Splitwise rows we use run on two GPUs
constexpr double kIdlePowerW = 110;
constexpr double kParkedPowerW = 65;
constexpr double kWakeDelayS = 45;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kHbmGiB = 80;
constexpr double kGpuMemoryUtilization = 0.9;
constexpr double kWeightsGiBBf16 = 16;
constexpr double kWeightsGiBFp8 = 8;
constexpr double kKvBytesPerTokenBf16 = 128.0 * 1024.0;  // 32 layers x 8 KV heads x 128 dims x 2 (K,V) x 2 B
constexpr double kKvBytesPerTokenFp8 = 64.0 * 1024.0;
constexpr double kH100MinClockMhz = 210;
constexpr double kH100MaxClockMhz = 1980;

// --- Fitting helpers ---------------------------------------------------------------------------------

// Mean absolute percentage error, accumulated one (prediction, measurement) pair at a time.
class Mape {
public:
    void add(double predicted, double measured) {
        m_sum += std::abs(predicted - measured) / std::abs(measured);
        ++m_count;
    }
    [[nodiscard]] double value() const { return m_count == 0 ? 0.0 : m_sum / static_cast<double>(m_count); }
    [[nodiscard]] std::size_t count() const { return m_count; }

private:
    double m_sum = 0;
    std::size_t m_count = 0;
};

// Fit and held-out MAPE of one quantity.
struct SplitMape {
    Mape fit;
    Mape holdout;
    void add(std::size_t index, double predicted, double measured) {
        (is_holdout_row(index) ? holdout : fit).add(predicted, measured);
    }
    [[nodiscard]] FitError to_error(std::string source, std::string quantity, std::string note = {}) const {
        return FitError{std::move(source), std::move(quantity), fit.count(),    holdout.count(),
                        holdout.value(),   fit.value(),         std::move(note)};
    }
};

// Least squares in relative terms: minimises sum(((X c)_i - y_i) / y_i)^2, so that small and large
// measurements weigh alike (the error we report is relative too).
Eigen::VectorXd relative_least_squares(Eigen::MatrixXd x, Eigen::VectorXd y) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        x.row(i) /= y(i);
        y(i) = 1.0;
    }
    return x.colPivHouseholderQr().solve(y);
}

// Minimises f over [lo, hi]: a coarse grid finds the best cell, golden-section search refines inside it
// (to 1e-4 of the range). Cheap enough to run at every start (`twin run` calibrates).
template <class F>
double minimize_1d(F f, double lo, double hi) {
    constexpr int kCells = 40;
    const double step = (hi - lo) / kCells;
    double best_x = lo;
    double best_f = std::numeric_limits<double>::infinity();
    for (int i = 0; i <= kCells; ++i) {
        const double x = lo + step * i;
        const double v = f(x);
        if (v < best_f) {
            best_f = v;
            best_x = x;
        }
    }
    double a = std::max(lo, best_x - step);
    double b = std::min(hi, best_x + step);
    const double inv_phi = (std::sqrt(5.0) - 1) / 2;
    double c = b - inv_phi * (b - a);
    double d = a + inv_phi * (b - a);
    double fc = f(c);
    double fd = f(d);
    while (b - a > 1e-4 * (hi - lo)) {
        if (fc < fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = f(d);
        }
    }
    const double x = (a + b) / 2;
    return f(x) <= best_f ? x : best_x;
}

bool positive_finite(double v) { return std::isfinite(v) && v > 0; }

core::Error bad_fit(std::string_view source, std::string_view what, double value) {
    return core::Error{
        fmt::format("calibration: {}: fit gave {} = {:.6g}; the data cannot be right", source, what, value)};
}

// --- Splitwise: prefill time vs tokens ----------------------------------------------------------------

struct PrefillFit {
    double base_s = 0;  // llama2-70b, tensor parallel 2
    double per_token_s = 0;
    FitError error;
};

core::Result<PrefillFit> fit_prefill(const std::vector<PrefillPoint>& points) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (!is_holdout_row(i)) rows.push_back(i);
    }
    if (rows.size() < 2) return core::fail("calibration: splitwise: fewer than 2 prefill points to fit");
    Eigen::MatrixXd x(static_cast<Eigen::Index>(rows.size()), 2);
    Eigen::VectorXd y(static_cast<Eigen::Index>(rows.size()));
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const auto& p = points[rows[r]];
        const auto i = static_cast<Eigen::Index>(r);
        x(i, 0) = 1.0;
        x(i, 1) = static_cast<double>(p.prompt_size) * p.batch;
        y(i) = p.prompt_time_s;
    }
    const Eigen::VectorXd c = relative_least_squares(x, y);
    PrefillFit fit{c(0), c(1), {}};
    if (!(fit.base_s >= 0)) return tl::unexpected(bad_fit("splitwise", "prefill base", fit.base_s));
    if (!positive_finite(fit.per_token_s)) {
        return tl::unexpected(bad_fit("splitwise", "prefill per token", fit.per_token_s));
    }
    SplitMape mape;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const double tokens = static_cast<double>(points[i].prompt_size) * points[i].batch;
        mape.add(i, fit.base_s + fit.per_token_s * tokens, points[i].prompt_time_s);
    }
    fit.error =
        mape.to_error("splitwise llama2-70b H100 TP2", "prefill time",
                      "shape fitted on 70B; scaled to 8B by parameter count (see assumptions); batch-64 "
                      "rows left out");
    return fit;
}

// --- Perseus: power and time vs SM clock (A100) -------------------------------------------------------

struct ClockFit {
    double static_fraction = 0;   // clock-independent share of busy power at max clock
    double exponent = 1;          // dynamic power ~ (f / f_max)^exponent
    double compute_fraction = 1;  // share of time that scales with f_max / f
    std::vector<FitError> errors;
};

// One point of a series normalised to the series' highest clock.
struct RelativeClockPoint {
    std::size_t index;  // within its series, lowest clock first
    double clock;       // f / f_max
    double power;       // P / P(f_max)
    double time;        // t / t(f_max)
};

core::Result<ClockFit> fit_clock(const std::vector<ClockPoint>& points) {
    std::vector<RelativeClockPoint> rel;
    for (std::size_t begin = 0; begin < points.size();) {
        std::size_t end = begin;
        while (end < points.size() && points[end].series == points[begin].series) ++end;
        const ClockPoint& top = points[end - 1];  // sorted by clock: the last is the highest
        const double top_power = top.energy_j / top.time_s;
        for (std::size_t i = begin; i < end; ++i) {
            const ClockPoint& p = points[i];
            rel.push_back({i - begin, p.clock_mhz / top.clock_mhz, (p.energy_j / p.time_s) / top_power,
                           p.time_s / top.time_s});
        }
        begin = end;
    }
    // Power: p = s + (1 - s) x^k. For a given k the best s is a 1-D least squares in closed form; k is
    // searched on the fit rows.
    const auto best_static = [&rel](double k, double& sse) {
        double num = 0;
        double den = 0;
        for (const auto& p : rel) {
            if (is_holdout_row(p.index)) continue;
            const double xk = std::pow(p.clock, k);
            num += (1 - xk) * (p.power - xk);
            den += (1 - xk) * (1 - xk);
        }
        const double s = den > 0 ? num / den : 0;
        sse = 0;
        for (const auto& p : rel) {
            if (is_holdout_row(p.index)) continue;
            const double xk = std::pow(p.clock, k);
            const double e = s + (1 - s) * xk - p.power;
            sse += e * e;
        }
        return s;
    };
    ClockFit fit;
    fit.exponent = minimize_1d(
        [&best_static](double k) {
            double sse = 0;
            best_static(k, sse);
            return sse;
        },
        1.0, 8.0);
    double sse = 0;
    fit.static_fraction = best_static(fit.exponent, sse);
    // Time: t = (1 - c) + c / x.
    double num = 0;
    double den = 0;
    for (const auto& p : rel) {
        if (is_holdout_row(p.index)) continue;
        num += (1 / p.clock - 1) * (p.time - 1);
        den += (1 / p.clock - 1) * (1 / p.clock - 1);
    }
    fit.compute_fraction = den > 0 ? num / den : 0;
    if (!(fit.static_fraction >= 0 && fit.static_fraction < 1)) {
        return tl::unexpected(bad_fit("perseus", "static power fraction", fit.static_fraction));
    }
    if (!(fit.compute_fraction > 0 && fit.compute_fraction <= 1)) {
        return tl::unexpected(bad_fit("perseus", "compute-bound time fraction", fit.compute_fraction));
    }
    SplitMape power;
    SplitMape time;
    for (const auto& p : rel) {
        power.add(p.index, fit.static_fraction + (1 - fit.static_fraction) * std::pow(p.clock, fit.exponent),
                  p.power);
        time.add(p.index, 1 - fit.compute_fraction + fit.compute_fraction / p.clock, p.time);
    }
    const std::string source = "perseus A100 stage profiles (GPT-3 175B, BLOOM)";
    fit.errors.push_back(power.to_error(source, "power vs SM clock (relative to max clock)"));
    fit.errors.push_back(time.to_error(source, "time vs SM clock (relative to max clock)"));
    return fit;
}

// Zeus power-limit sweeps: predicts each job's epoch time at each limit, relative to its time at the
// highest limit, with the replica model's own power-limit mechanism and the A100 clock fit.
FitError check_power_limit(const std::vector<PowerLimitPoint>& points, const std::string& gpu,
                           const ClockFit& clock) {
    Mape mape;
    for (std::size_t begin = 0; begin < points.size();) {
        std::size_t end = begin;
        while (end < points.size() && points[end].series == points[begin].series) ++end;
        const PowerLimitPoint& top = points[end - 1];
        // A one-phase model of this job: its power at the highest limit is its unconstrained power.
        ReplicaModelParams p;
        p.prefill_base_s = 1;
        p.prefill_power_w = top.power_w;
        p.static_power_w = clock.static_fraction * top.power_w;
        p.clock_exponent = clock.exponent;
        p.prefill_compute_fraction = clock.compute_fraction;
        p.max_clock_mhz = kH100MaxClockMhz;
        p.min_clock_mhz = kH100MinClockMhz;
        const ReplicaModel model(p);
        GpuSettings settings;
        settings.power_limit = core::Watts(top.power_limit_w);
        const double reference_s = model.prefill_time(1, settings).value();
        for (std::size_t i = begin; i + 1 < end; ++i) {
            settings.power_limit = core::Watts(points[i].power_limit_w);
            mape.add(model.prefill_time(1, settings).value() / reference_s, points[i].time_s / top.time_s);
        }
        begin = end;
    }
    return FitError{"zeus-nsdi23 " + gpu,
                    "epoch time vs power limit (relative to the highest limit)",
                    0,
                    mape.count(),
                    mape.value(),
                    0,
                    "cross-check of the power-limit mechanism with the A100 clock fit; nothing fitted"};
}

// --- Argonne: context cost and fp8 speedups -------------------------------------------------------------

// A batch of B requests, L tokens in and L out: latency = L * base + B * L * a + 1.5 * B * L^2 * ctx, where
// a is the per-sequence decode cost plus the prefill cost per token (the two cannot be told apart here:
// both grow as B * L), and the decode context grows from B * L to 2 * B * L (1.5 * B * L on average).
struct BatchLatencyFit {
    double base_s = 0;
    double per_seq_and_prompt_token_s = 0;
    double per_ctx_token_s = 0;
    [[nodiscard]] double latency(const ArgonneRun& r) const {
        const double b = r.batch;
        const double l = r.length;
        return l * base_s + b * l * per_seq_and_prompt_token_s + 1.5 * b * l * l * per_ctx_token_s;
    }
};

core::Result<BatchLatencyFit> fit_batch_latency(const std::vector<ArgonneRun>& runs,
                                                std::string_view source) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        if (!is_holdout_row(i)) rows.push_back(i);
    }
    if (rows.size() < 3) return core::fail(fmt::format("calibration: {}: fewer than 3 runs to fit", source));
    Eigen::MatrixXd x(static_cast<Eigen::Index>(rows.size()), 3);
    Eigen::VectorXd y(static_cast<Eigen::Index>(rows.size()));
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const ArgonneRun& run = runs[rows[r]];
        const auto i = static_cast<Eigen::Index>(r);
        const double b = run.batch;
        const double l = run.length;
        x(i, 0) = l;
        x(i, 1) = b * l;
        x(i, 2) = 1.5 * b * l * l;
        y(i) = run.latency_s;
    }
    const Eigen::VectorXd c = relative_least_squares(x, y);
    BatchLatencyFit fit{c(0), c(1), c(2)};
    if (!positive_finite(fit.base_s)) return tl::unexpected(bad_fit(source, "decode base", fit.base_s));
    if (!positive_finite(fit.per_seq_and_prompt_token_s)) {
        return tl::unexpected(bad_fit(source, "per-sequence cost", fit.per_seq_and_prompt_token_s));
    }
    if (!positive_finite(fit.per_ctx_token_s)) {
        return tl::unexpected(bad_fit(source, "per-context-token cost", fit.per_ctx_token_s));
    }
    return fit;
}

SplitMape batch_latency_mape(const BatchLatencyFit& fit, const std::vector<ArgonneRun>& runs) {
    SplitMape mape;
    for (std::size_t i = 0; i < runs.size(); ++i) mape.add(i, fit.latency(runs[i]), runs[i].latency_s);
    return mape;
}

struct Fp8Fit {
    double decode_speedup = 1;
    double kv_speedup = 1;
    double kv_speedup_measured = 1;
    double prefill_speedup = 1;
    double prefill_speedup_derived = 1;
    FitError error;
};

// fp8 speedups from like-for-like fits of the fp16 and fp8 runs of the same file: the weight-streaming
// term (base) and the context term directly; prefill from the B * L term, taking the per-sequence
// overhead as unchanged by fp8 (assumption) and the bf16 prefill cost per token from Splitwise.
core::Result<Fp8Fit> fit_fp8(const BatchLatencyFit& f16, const std::vector<ArgonneRun>& fp8,
                             double prefill_per_token_s) {
    auto f8 = fit_batch_latency(fp8, "argonne quant fp8");
    if (!f8) return tl::unexpected(f8.error());
    Fp8Fit fit;
    fit.decode_speedup = std::max(1.0, f16.base_s / f8->base_s);
    fit.kv_speedup_measured = f16.per_ctx_token_s / f8->per_ctx_token_s;
    fit.kv_speedup = std::max(1.0, fit.kv_speedup_measured);
    const double fp8_prompt_token_s =
        f8->per_seq_and_prompt_token_s - f16.per_seq_and_prompt_token_s + prefill_per_token_s;
    fit.prefill_speedup_derived = fp8_prompt_token_s > 0 ? prefill_per_token_s / fp8_prompt_token_s : 1.0;
    fit.prefill_speedup = std::max(1.0, fit.prefill_speedup_derived);
    // Predict the fp8 runs from the fp16 fit and the speedups.
    BatchLatencyFit predicted{
        f16.base_s / fit.decode_speedup,
        f16.per_seq_and_prompt_token_s - prefill_per_token_s + prefill_per_token_s / fit.prefill_speedup,
        f16.per_ctx_token_s / fit.kv_speedup};
    fit.error = batch_latency_mape(predicted, fp8)
                    .to_error("argonne H100 vLLM Llama-3-8B fp8", "batch latency (fp16 fit / fp8 speedups)",
                              "the fp16 fit above with the fp8 speedups, fitted on the fp8 fit rows");
    return fit;
}

// --- ML.ENERGY: decode time and power vs batch ----------------------------------------------------------

// The context a running sequence holds on average: its prompt and half its output.
double typical_context(const MlEnergyRow& row) { return kLmArenaMeanPromptTokens + row.avg_output_len / 2; }

// Fits decode base and per-sequence cost to the median ITL (context cost fixed by Argonne), then the
// busy-power curve to the average power. Average power over a run counts each request's prefill at the
// saturated power (floor + span; assumption): P_avg = (t_dec * out * P(B) + B * t_pre * P_sat) / (same
// times).
core::Result<void> fit_mlenergy(const std::vector<MlEnergyRow>& rows, ReplicaModelParams& p) {
    std::vector<std::size_t> fit_rows;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (!is_holdout_row(i)) fit_rows.push_back(i);
    }
    const auto n = static_cast<Eigen::Index>(fit_rows.size());
    if (n < 3) return core::fail("calibration: mlenergy: fewer than 3 configurations to fit");
    Eigen::MatrixXd x(n, 2);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
        const MlEnergyRow& r = rows[fit_rows[static_cast<std::size_t>(i)]];
        const double b = r.avg_batch_size;
        // Relative to the measured ITL, not to the ITL less the fixed context term.
        x(i, 0) = 1.0 / r.median_itl_s;
        x(i, 1) = b / r.median_itl_s;
        y(i) = (r.median_itl_s - p.decode_per_ctx_token_s * b * typical_context(r)) / r.median_itl_s;
    }
    const Eigen::VectorXd c = x.colPivHouseholderQr().solve(y);
    p.decode_base_s = c(0);
    p.decode_per_seq_s = c(1);
    if (!positive_finite(p.decode_base_s)) {
        return tl::unexpected(bad_fit("mlenergy", "decode base", p.decode_base_s));
    }
    if (!positive_finite(p.decode_per_seq_s)) {
        return tl::unexpected(bad_fit("mlenergy", "decode per sequence", p.decode_per_seq_s));
    }

    // Power: for a given saturation scale, floor and span are a linear least squares (2x2 normal
    // equations in relative terms); the scale is searched.
    const double prefill_s = p.prefill_base_s + p.prefill_per_token_s * kLmArenaMeanPromptTokens;
    std::vector<double> decode_s(fit_rows.size());
    for (std::size_t i = 0; i < fit_rows.size(); ++i) {
        const MlEnergyRow& r = rows[fit_rows[i]];
        const double b = r.avg_batch_size;
        decode_s[i] = r.avg_output_len * (p.decode_base_s + p.decode_per_seq_s * b +
                                          p.decode_per_ctx_token_s * b * typical_context(r));
    }
    struct PowerFit {
        double floor_w = 0;
        double span_w = 0;
        double sse = std::numeric_limits<double>::infinity();
    };
    const auto fit_power = [&](double scale) {
        // Measured P = floor + span * u, u = the time-weighted saturation; weights 1/P^2.
        double s11 = 0;
        double s12 = 0;
        double s22 = 0;
        double t1 = 0;
        double t2 = 0;
        std::vector<double> u(fit_rows.size());
        for (std::size_t i = 0; i < fit_rows.size(); ++i) {
            const MlEnergyRow& r = rows[fit_rows[i]];
            const double prompt_s = r.avg_batch_size * prefill_s;
            u[i] = (decode_s[i] * (1.0 - std::exp(-r.avg_batch_size / scale)) + prompt_s) /
                   (decode_s[i] + prompt_s);
            const double w = 1.0 / (r.avg_power_w * r.avg_power_w);
            s11 += w;
            s12 += w * u[i];
            s22 += w * u[i] * u[i];
            t1 += w * r.avg_power_w;
            t2 += w * u[i] * r.avg_power_w;
        }
        PowerFit f;
        const double det = s11 * s22 - s12 * s12;
        if (!(std::abs(det) > 0)) return f;
        f.floor_w = (t1 * s22 - t2 * s12) / det;
        f.span_w = (s11 * t2 - s12 * t1) / det;
        f.sse = 0;
        for (std::size_t i = 0; i < fit_rows.size(); ++i) {
            const double measured = rows[fit_rows[i]].avg_power_w;
            const double e = (f.floor_w + f.span_w * u[i] - measured) / measured;
            f.sse += e * e;
        }
        return f;
    };
    p.power_batch_scale =
        minimize_1d([&fit_power](double scale) { return fit_power(scale).sse; }, 1.0, 400.0);
    const PowerFit power = fit_power(p.power_batch_scale);
    p.power_floor_w = power.floor_w;
    p.power_span_w = power.span_w;
    if (!positive_finite(p.power_floor_w)) {
        return tl::unexpected(bad_fit("mlenergy", "power floor", p.power_floor_w));
    }
    if (!(p.power_span_w >= 0)) return tl::unexpected(bad_fit("mlenergy", "power span", p.power_span_w));
    return {};
}

// The model's prediction of one ML.ENERGY configuration at default settings: steady state with the
// measured mean batch, each request prefilled alone (lm-arena-chat prompts) then decoded.
struct MlEnergyPrediction {
    double median_itl_s;
    double energy_per_token_j;
    double avg_power_w;
};

MlEnergyPrediction predict_mlenergy(const ReplicaModel& model, const MlEnergyRow& r) {
    const GpuSettings defaults;
    const int batch = std::max(1, static_cast<int>(std::lround(r.avg_batch_size)));
    const double b = batch;
    const double decode_s = model.decode_time(batch, b * typical_context(r), defaults).value();
    const double decode_w = model.decode_power(batch, defaults).value();
    const double prefill_s = model.prefill_time(kLmArenaMeanPromptTokens, defaults).value();
    const double prefill_w = model.prefill_power(defaults).value();
    // Per B requests: out decode iterations of the whole batch and B prefills.
    const double time_s = r.avg_output_len * decode_s + b * prefill_s;
    const double energy_j = r.avg_output_len * decode_s * decode_w + b * prefill_s * prefill_w;
    return {decode_s, energy_j / (b * r.avg_output_len), energy_j / time_s};
}

// The Argonne runs predicted by the calibrated model: prefill the whole batch, then L decode iterations
// whose context grows from B * L to 2 * B * L.
struct ArgonnePrediction {
    double latency_s;
    double avg_power_w;
};

ArgonnePrediction predict_argonne(const ReplicaModel& model, const ArgonneRun& run) {
    const GpuSettings defaults;
    const double b = run.batch;
    const double l = run.length;
    const double prefill_s = model.prefill_time(b * l, defaults).value();
    const double decode_s = l * model.decode_time(run.batch, 1.5 * b * l, defaults).value();
    const double energy_j = prefill_s * model.prefill_power(defaults).value() +
                            decode_s * model.decode_power(run.batch, defaults).value();
    return {prefill_s + decode_s, energy_j / (prefill_s + decode_s)};
}

}  // namespace

core::Result<CalibrationReport> calibrate(const std::filesystem::path& data_dir,
                                          const CalibrationOptions& options) {
    const auto mlenergy_dir = data_dir / "mlenergy-leaderboard-v3";
    const auto argonne_dir = data_dir / "argonne-llm-inference-bench";
    const auto splitwise_dir = data_dir / "splitwise-perf-model";
    const auto zeus_dir = data_dir / "zeus-perseus-gpu-power";

    auto mlenergy = load_mlenergy_h100_llama8b(mlenergy_dir / "llm_configs.csv");
    if (!mlenergy) return tl::unexpected(mlenergy.error());
    const auto quant_file = argonne_dir / "A100_H100_quant_all_results.csv";
    auto quant_fp16 = load_argonne_quant(quant_file, ArgonnePrecision::fp16);
    if (!quant_fp16) return tl::unexpected(quant_fp16.error());
    auto quant_fp8 = load_argonne_quant(quant_file, ArgonnePrecision::fp8);
    if (!quant_fp8) return tl::unexpected(quant_fp8.error());
    auto splitwise = load_splitwise_prefill(splitwise_dir / "perf_model.csv");
    if (!splitwise) return tl::unexpected(splitwise.error());
    std::vector<ClockPoint> stages;
    for (const char* name :
         {"stage_profile_gpt3-175b+a100_sxm_bf16.csv", "stage_profile_bloom+a100_sxm_bf16.csv"}) {
        auto points = load_zeus_stage_profile(zeus_dir / name);
        if (!points) return tl::unexpected(points.error());
        stages.insert(stages.end(), points->begin(), points->end());
    }
    // Cross-check data: read only when asked for (the parameters do not depend on it).
    std::vector<ArgonneRun> argonne_latency;
    std::vector<ArgonneRun> argonne_power;
    std::map<std::string, std::vector<PowerLimitPoint>> sweeps;
    if (options.cross_checks) {
        auto latency = load_argonne_latency(argonne_dir / "All_results.csv");
        if (!latency) return tl::unexpected(latency.error());
        argonne_latency = std::move(*latency);
        auto power = load_argonne_power(argonne_dir / "power_results.csv");
        if (!power) return tl::unexpected(power.error());
        argonne_power = std::move(*power);
        for (const char* gpu : {"a40", "v100", "p100", "rtx6000"}) {
            auto points = load_zeus_power_limit(zeus_dir / fmt::format("summary_power_{}.csv", gpu));
            if (!points) return tl::unexpected(points.error());
            sweeps[gpu] = std::move(*points);
        }
    }

    CalibrationReport report;
    ReplicaModelParams& p = report.params;
    p.max_clock_mhz = kH100MaxClockMhz;
    p.min_clock_mhz = kH100MinClockMhz;

    // Prefill: Splitwise's llama2-70b on two H100s, scaled to one GPU and 8B parameters.
    auto prefill = fit_prefill(*splitwise);
    if (!prefill) return tl::unexpected(prefill.error());
    const double prefill_scale = kSplitwiseTensorParallel * kLlama8bParams / kLlama2_70bParams;
    p.prefill_base_s = prefill->base_s * prefill_scale;
    p.prefill_per_token_s = prefill->per_token_s * prefill_scale;
    report.errors.push_back(prefill->error);

    // Clock response: Perseus A100 profiles.
    auto clock = fit_clock(stages);
    if (!clock) return tl::unexpected(clock.error());
    p.clock_exponent = clock->exponent;
    p.prefill_compute_fraction = clock->compute_fraction;
    p.decode_compute_per_seq_s = p.prefill_per_token_s * clock->compute_fraction;

    // Context cost of decode: Argonne fp16 runs (context up to 4096 tokens per sequence), from the file
    // that also has the fp8 runs, so the fp8 speedups compare like with like.
    auto context = fit_batch_latency(*quant_fp16, "argonne quant fp16");
    if (!context) return tl::unexpected(context.error());
    p.decode_per_ctx_token_s = context->per_ctx_token_s;
    const std::string argonne_fp16 = "argonne H100 vLLM Llama-3-8B fp16";
    report.errors.push_back(batch_latency_mape(*context, *quant_fp16)
                                .to_error(argonne_fp16, "batch latency (context-cost fit)",
                                          "only the per-context-token cost is kept"));

    auto fp8 = fit_fp8(*context, *quant_fp8, p.prefill_per_token_s);
    if (!fp8) return tl::unexpected(fp8.error());
    p.fp8_decode_speedup = fp8->decode_speedup;
    p.fp8_kv_speedup = fp8->kv_speedup;
    p.fp8_prefill_speedup = fp8->prefill_speedup;
    p.fp8_power_factor = 1.0;
    report.errors.push_back(fp8->error);

    // The target: ML.ENERGY H100 Llama-3.1-8B.
    if (auto fitted = fit_mlenergy(*mlenergy, p); !fitted) return tl::unexpected(fitted.error());
    p.prefill_power_w = p.power_floor_w + p.power_span_w;
    p.static_power_w = clock->static_fraction * p.prefill_power_w;

    p.idle_power_w = kIdlePowerW;
    p.parked_power_w = kParkedPowerW;
    p.wake_delay_s = kWakeDelayS;
    const double kv_bytes_bf16 = (kGpuMemoryUtilization * kHbmGiB - kWeightsGiBBf16) * kGiB;
    const double kv_bytes_fp8 = (kGpuMemoryUtilization * kHbmGiB - kWeightsGiBFp8) * kGiB;
    p.kv_capacity_tokens = std::floor(kv_bytes_bf16 / kKvBytesPerTokenBf16);
    p.fp8_kv_capacity_tokens = std::floor(kv_bytes_fp8 / kKvBytesPerTokenFp8);

    const ReplicaModel model(p);
    {
        SplitMape energy;
        SplitMape itl;
        SplitMape power;
        for (std::size_t i = 0; i < mlenergy->size(); ++i) {
            const MlEnergyRow& r = (*mlenergy)[i];
            const MlEnergyPrediction pred = predict_mlenergy(model, r);
            energy.add(i, pred.energy_per_token_j, r.energy_per_token_j);
            itl.add(i, pred.median_itl_s, r.median_itl_s);
            power.add(i, pred.avg_power_w, r.avg_power_w);
        }
        const std::string source = "mlenergy-v3 H100 Llama-3.1-8B";
        report.errors.push_back(energy.to_error(source, "energy per token", "the target"));
        report.errors.push_back(itl.to_error(source, "median ITL", "the target"));
        report.errors.push_back(power.to_error(source, "average power"));
    }
    if (options.cross_checks) {
        Mape same_runs;
        Mape latency;
        for (const ArgonneRun& run : argonne_latency) {
            same_runs.add(context->latency(run), run.latency_s);
            latency.add(predict_argonne(model, run).latency_s, run.latency_s);
        }
        report.errors.push_back(FitError{argonne_fp16 + " (All_results)", "batch latency (context-cost fit)",
                                         0, same_runs.count(), same_runs.value(), 0,
                                         "cross-check: the same runs measured again; nothing fitted"});
        report.errors.push_back(FitError{argonne_fp16 + " (All_results)", "batch latency (replica model)", 0,
                                         latency.count(), latency.value(), 0,
                                         "cross-check: an older vLLM than ML.ENERGY v3; nothing fitted"});
        Mape power;
        double least_w = std::numeric_limits<double>::infinity();
        double most_w = -least_w;
        for (const ArgonneRun& run : argonne_power) {
            const double predicted_w = predict_argonne(model, run).avg_power_w;
            power.add(predicted_w, run.power_w);
            least_w = std::min(least_w, predicted_w - run.power_w);
            most_w = std::max(most_w, predicted_w - run.power_w);
        }
        report.errors.push_back(FitError{
            argonne_fp16 + " (power_results)", "average power (replica model)", 0, power.count(),
            power.value(), 0,
            fmt::format(
                "cross-check: the model (ML.ENERGY's H100) draws {:.0f} to {:.0f} W more than this H100 at "
                "like batches; nothing fitted",
                least_w, most_w)});
    }
    report.errors.insert(report.errors.end(), clock->errors.begin(), clock->errors.end());
    for (const auto& [gpu, points] : sweeps) report.errors.push_back(check_power_limit(points, gpu, *clock));

    // The target first.
    std::stable_partition(report.errors.begin(), report.errors.end(),
                          [](const FitError& e) { return e.source.rfind("mlenergy", 0) == 0; });

    auto& a = report.assumptions;
    a.push_back({"mean prompt length of ML.ENERGY lm-arena-chat requests",
                 fmt::format("{:.0f} tokens", kLmArenaMeanPromptTokens),
                 "not in the data; LMArena/LMSYS chat prompts average ~70 tokens per user turn, plus earlier "
                 "turns and the Llama-3.1 chat template"});
    a.push_back({"context a running sequence holds", "its prompt + half its output",
                 "uniform progress through the output in a steady continuous batch"});
    a.push_back(
        {"ML.ENERGY run model", "each request prefilled once (prompt alone), then decoded in the full batch",
         "energy per token = (out x t_decode x P_decode + B x t_prefill x P_prefill) / (B x out); the "
         "median ITL is the decode iteration time"});
    a.push_back(
        {"prefill time of Llama-3.1-8B on one H100",
         fmt::format("Splitwise llama2-70b TP2 fit x {:.4f} (= 2 GPUs x 8.03B / 68.98B params)",
                     prefill_scale),
         "prefill is compute-bound, its FLOPs grow with parameter count; no public single-H100 8B prefill "
         "sweep in the data"});
    a.push_back({"Splitwise llama2-70b TP2 batch-64 rows", "left out",
                 "prefill 6.6x shorter than batch 32 for twice the tokens: not physically consistent"});
    a.push_back({"Argonne Meta-Llama-3-8B stands in for Llama-3.1-8B", "same architecture and size",
                 "Llama-3.1-8B differs only in context length and training data"});
    a.push_back({"prefill power",
                 fmt::format("{:.0f} W (= saturated decode power, floor + span)", p.prefill_power_w),
                 "compute-bound phases draw what a saturated batch draws; no per-phase H100 power data"});
    a.push_back({"clock-independent share of busy power",
                 fmt::format("{:.3f} (A100, Perseus)", clock->static_fraction),
                 "no public H100 power-vs-clock data; the A100 curve is the closest measured one"});
    a.push_back({"dynamic power exponent", fmt::format("{:.2f} (A100, Perseus)", clock->exponent),
                 "no public H100 power-vs-clock data"});
    a.push_back(
        {"H100 decode under an SM clock cap (no public data)",
         fmt::format("clock-scalable part = batch x {:.2f} us (prefill per-token time x A100 compute share "
                     "{:.2f}); weight and KV streaming independent of SM clock",
                     p.decode_compute_per_seq_s * 1e6, clock->compute_fraction),
         "roofline stand-in: the per-token GEMM work of decode is what prefill measures; memory-bound "
         "streaming does not depend on the SM clock"});
    a.push_back({"power limit the lowest clock still exceeds",
                 "GPU duty-cycles: time x P/limit, power = limit",
                 "hardware slowdown keeps power at the limit; no data this low"});
    a.push_back({"fp8 per-sequence decode overhead", "unchanged by fp8",
                 "it is scheduling and sampling work; lets the Argonne B x L term give the prefill speedup"});
    a.push_back({"fp8 prefill speedup",
                 fmt::format("{:.2f} (derived {:.2f}, at least 1)", fp8->prefill_speedup,
                             fp8->prefill_speedup_derived),
                 "from the Argonne fp8/fp16 B x L terms and the bf16 prefill cost per token"});
    a.push_back(
        {"fp8 KV-read speedup",
         fmt::format("{:.2f} (measured {:.3f}, at least 1)", fp8->kv_speedup, fp8->kv_speedup_measured),
         "fp8 KV halves the bytes, but the measured vLLM attention was no faster; never slower than bf16"});
    a.push_back({"fp8 busy power", "x 1.00 (same as bf16)",
                 "no public H100 fp8 power data; fp8 saves energy through time"});
    a.push_back({"idle power, model loaded", fmt::format("{:.0f} W", kIdlePowerW),
                 "H100 SXM with weights resident and no kernels runs at ~100-120 W"});
    a.push_back({"parked power", fmt::format("{:.0f} W", kParkedPowerW),
                 "model unloaded, GPU at its lowest clocks: ~60-70 W"});
    a.push_back({"wake delay", fmt::format("{:.0f} s", kWakeDelayS),
                 "load 16 GB of weights and capture CUDA graphs: ~30-60 s"});
    a.push_back({"KV capacity bf16",
                 fmt::format("{:.0f} tokens = ({} x {} GiB - {} GiB weights) / 128 KiB", p.kv_capacity_tokens,
                             kGpuMemoryUtilization, kHbmGiB, kWeightsGiBBf16),
                 "vLLM gpu_memory_utilization 0.9; Llama-3.1-8B KV: 32 layers x 8 KV heads x 128 x 2 x 2 B; "
                 "activation reserve ignored"});
    a.push_back({"KV capacity fp8",
                 fmt::format("{:.0f} tokens = ({} x {} GiB - {} GiB weights) / 64 KiB",
                             p.fp8_kv_capacity_tokens, kGpuMemoryUtilization, kHbmGiB, kWeightsGiBFp8),
                 "fp8 weights and KV halve both"});
    a.push_back({"H100 clock range", fmt::format("{:.0f}-{:.0f} MHz", kH100MinClockMhz, kH100MaxClockMhz),
                 "H100 SXM supported SM clocks"});
    a.push_back({"held-out rows", "every 4th row of each source in its sorted order, starting with the first",
                 "deterministic; at least a quarter of each source"});
    return report;
}

std::vector<ParamEntry> describe_params(const ReplicaModelParams& p) {
    return {
        {"decode_base_s", p.decode_base_s * 1e3, "ms", "decode iteration, fixed part (bf16, max clock)"},
        {"decode_per_seq_s", p.decode_per_seq_s * 1e6, "us", "decode iteration, per sequence in the batch"},
        {"decode_per_ctx_token_s", p.decode_per_ctx_token_s * 1e9, "ns",
         "decode iteration, per context token"},
        {"decode_compute_per_seq_s", p.decode_compute_per_seq_s * 1e6, "us",
         "clock-scalable part of decode, per sequence"},
        {"prefill_base_s", p.prefill_base_s * 1e3, "ms", "prefill of a group, fixed part"},
        {"prefill_per_token_s", p.prefill_per_token_s * 1e6, "us", "prefill, per prompt token"},
        {"prefill_compute_fraction", p.prefill_compute_fraction, "",
         "share of prefill time scaling with 1/clock"},
        {"fp8_decode_speedup", p.fp8_decode_speedup, "x", "fp8 speedup of weight streaming"},
        {"fp8_kv_speedup", p.fp8_kv_speedup, "x", "fp8 speedup of KV reads"},
        {"fp8_prefill_speedup", p.fp8_prefill_speedup, "x", "fp8 speedup of prefill"},
        {"power_floor_w", p.power_floor_w, "W", "busy decode power, batch -> 0, max clock"},
        {"power_span_w", p.power_span_w, "W", "busy decode power added by a saturated batch"},
        {"power_batch_scale", p.power_batch_scale, "seqs", "batch scale of the power saturation"},
        {"prefill_power_w", p.prefill_power_w, "W", "power while prefilling, max clock"},
        {"static_power_w", p.static_power_w, "W", "clock-independent part of busy power"},
        {"clock_exponent", p.clock_exponent, "", "dynamic power ~ (f/f_max)^exponent"},
        {"fp8_power_factor", p.fp8_power_factor, "x", "busy power multiplier under fp8"},
        {"idle_power_w", p.idle_power_w, "W", "model loaded, no work"},
        {"parked_power_w", p.parked_power_w, "W", "replica parked"},
        {"wake_delay_s", p.wake_delay_s, "s", "parked -> serving"},
        {"kv_capacity_tokens", p.kv_capacity_tokens, "tokens", "KV cache capacity, bf16"},
        {"fp8_kv_capacity_tokens", p.fp8_kv_capacity_tokens, "tokens", "KV cache capacity, fp8"},
        {"max_clock_mhz", p.max_clock_mhz, "MHz", "highest SM clock"},
        {"min_clock_mhz", p.min_clock_mhz, "MHz", "lowest SM clock"},
    };
}

}  // namespace joulepilot::twin
