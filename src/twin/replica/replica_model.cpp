#include "twin/replica/replica_model.hpp"

#include <algorithm>
#include <cmath>

#include "twin/replica/calibration.hpp"

namespace joulepilot::twin {

core::Result<ReplicaModel> ReplicaModel::calibrated(const std::filesystem::path& data_dir) {
    auto report = calibrate(data_dir, CalibrationOptions{.cross_checks = false});
    if (!report) return tl::unexpected(report.error());
    return ReplicaModel(report->params);
}

double ReplicaModel::busy_power_at_max_w(int batch, Precision p) const {
    const double b = std::max(0, batch);
    const double scale = std::max(m_p.power_batch_scale, 1e-9);
    const double watts = m_p.power_floor_w + m_p.power_span_w * (1.0 - std::exp(-b / scale));
    return p == Precision::fp8 ? watts * m_p.fp8_power_factor : watts;
}

ReplicaModel::OperatingPoint ReplicaModel::operating_point(double power_at_max_w,
                                                           const GpuSettings& s) const {
    const double max_mhz = m_p.max_clock_mhz;
    const double min_ratio = m_p.min_clock_mhz / max_mhz;
    const double cap_ratio = std::clamp(core::to_mhz(s.sm_clock_cap), m_p.min_clock_mhz, max_mhz) / max_mhz;
    // The clock-independent part can never exceed the whole (a guard for hand-written parameters).
    const double static_w = std::clamp(m_p.static_power_w, 0.0, power_at_max_w);
    const double dynamic_w = power_at_max_w - static_w;
    const double limit_w = std::max(s.power_limit.value(), 1.0);
    const double k = std::max(m_p.clock_exponent, 1e-6);

    // scale = (f / f_max)^k; the default (uncapped) clock skips the pow.
    double ratio = cap_ratio;
    double scale = cap_ratio >= 1.0 ? 1.0 : std::pow(cap_ratio, k);
    if (static_w + dynamic_w * scale > limit_w) {
        // Solve static + dynamic * x^k = limit for x; below the lowest clock the GPU cannot go.
        const double target = (limit_w > static_w && dynamic_w > 0) ? (limit_w - static_w) / dynamic_w : 0.0;
        ratio = target > 0 ? std::pow(target, 1.0 / k) : 0.0;
        scale = target;
        if (ratio < min_ratio) {
            ratio = min_ratio;
            scale = std::pow(min_ratio, k);
        }
    }
    const double power_w = static_w + dynamic_w * scale;
    // Even the lowest clock draws more than the limit: the GPU duty-cycles (hardware slowdown), so the
    // same work takes power/limit times longer at the limit's power.
    const double throttle = power_w > limit_w ? power_w / limit_w : 1.0;
    return {ratio, std::min(power_w, limit_w), throttle};
}

core::Seconds ReplicaModel::decode_time(int batch, double context_tokens, const GpuSettings& s) const {
    const double b = std::max(0, batch);
    const double ctx = std::max(0.0, context_tokens);
    const bool fp8 = s.precision == Precision::fp8;
    const double weights_s = m_p.decode_base_s / (fp8 ? m_p.fp8_decode_speedup : 1.0);
    const double kv_s = m_p.decode_per_ctx_token_s * ctx / (fp8 ? m_p.fp8_kv_speedup : 1.0);
    const double at_max_s = weights_s + m_p.decode_per_seq_s * b + kv_s;
    const double compute_s =
        m_p.decode_compute_per_seq_s > 0
            ? std::min(at_max_s, b * m_p.decode_compute_per_seq_s / (fp8 ? m_p.fp8_prefill_speedup : 1.0))
            : (m_p.decode_compute_knee_batch > 0 ? at_max_s * b / (b + m_p.decode_compute_knee_batch) : 0.0);
    const OperatingPoint op = operating_point(busy_power_at_max_w(batch, s.precision), s);
    return core::Seconds((at_max_s + compute_s * (1.0 / op.clock_ratio - 1.0)) * op.throttle);
}

core::Seconds ReplicaModel::prefill_time(double prompt_tokens, const GpuSettings& s) const {
    if (!(prompt_tokens > 0)) return core::Seconds(0);
    const bool fp8 = s.precision == Precision::fp8;
    const double at_max_s = (m_p.prefill_base_s + m_p.prefill_per_token_s * prompt_tokens) /
                            (fp8 ? m_p.fp8_prefill_speedup : 1.0);
    const double fp8_factor = fp8 ? m_p.fp8_power_factor : 1.0;
    const OperatingPoint op = operating_point(m_p.prefill_power_w * fp8_factor, s);
    const double c = m_p.prefill_compute_fraction;
    return core::Seconds(at_max_s * ((1.0 - c) + c / op.clock_ratio) * op.throttle);
}

core::Watts ReplicaModel::decode_power(int batch, const GpuSettings& s) const {
    return core::Watts(operating_point(busy_power_at_max_w(batch, s.precision), s).power_w);
}

core::Watts ReplicaModel::prefill_power(const GpuSettings& s) const {
    const double fp8_factor = s.precision == Precision::fp8 ? m_p.fp8_power_factor : 1.0;
    return core::Watts(operating_point(m_p.prefill_power_w * fp8_factor, s).power_w);
}

core::Watts ReplicaModel::idle_power(const GpuSettings& s) const {
    return core::Watts(std::min(m_p.idle_power_w, std::max(s.power_limit.value(), 1.0)));
}

core::Watts ReplicaModel::parked_power() const { return core::Watts(m_p.parked_power_w); }

core::Seconds ReplicaModel::wake_delay() const { return core::Seconds(m_p.wake_delay_s); }

double ReplicaModel::kv_capacity_tokens(Precision p) const {
    if (p != Precision::fp8) return m_p.kv_capacity_tokens;
    return m_p.fp8_kv_capacity_tokens > 0 ? m_p.fp8_kv_capacity_tokens : 2 * m_p.kv_capacity_tokens;
}

core::Hertz ReplicaModel::effective_clock(int batch, const GpuSettings& s) const {
    const OperatingPoint op = operating_point(busy_power_at_max_w(batch, s.precision), s);
    return core::from_mhz(op.clock_ratio * m_p.max_clock_mhz);
}

double ReplicaModel::request_cost_s(int input_tokens, int output_tokens, const GpuSettings& s) const {
    const double in = std::max(0, input_tokens);
    const double out = std::max(0, output_tokens);
    const double prefill_s = prefill_time(in, s).value();
    if (out <= 0) return prefill_s;
    // Requests of this size that fit in the KV cache at once, at most the batch cap, at least one.
    const double fit = std::floor(kv_capacity_tokens(s.precision) / std::max(1.0, in + out));
    const int full = static_cast<int>(std::clamp(fit, 1.0, static_cast<double>(std::max(1, s.batch_cap))));
    // Over a request's life its context is on average its prompt plus half its output.
    const double context = full * (in + out / 2.0);
    return out * decode_time(full, context, s).value() / full + prefill_s;
}

}  // namespace joulepilot::twin
