// ReplicaModel (replica_model.cpp): the closed forms on hand-set parameters, and the directions every
// knob must move time and power in on the calibrated model.

#include "twin/replica/replica_model.hpp"

#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "twin/replica/calibration.hpp"
#include "unit/twin/replica/test_paths.hpp"

namespace joulepilot::twin {
namespace {

using core::from_mhz;
using core::Watts;

// Simple numbers so the closed forms can be checked by hand.
ReplicaModelParams hand_params() {
    ReplicaModelParams p;
    p.decode_base_s = 0.006;
    p.decode_per_seq_s = 60e-6;
    p.decode_per_ctx_token_s = 50e-9;
    p.decode_compute_per_seq_s = 20e-6;
    p.prefill_base_s = 0.003;
    p.prefill_per_token_s = 30e-6;
    p.prefill_compute_fraction = 0.8;
    p.fp8_decode_speedup = 1.5;
    p.fp8_kv_speedup = 1.0;
    p.fp8_prefill_speedup = 1.25;
    p.power_floor_w = 450;
    p.power_span_w = 250;
    p.power_batch_scale = 50;
    p.prefill_power_w = 700;
    p.static_power_w = 250;
    p.clock_exponent = 3;
    p.fp8_power_factor = 1;
    p.idle_power_w = 110;
    p.parked_power_w = 65;
    p.wake_delay_s = 45;
    p.kv_capacity_tokens = 400000;
    p.fp8_kv_capacity_tokens = 900000;
    return p;
}

const ReplicaModel& calibrated() {
    static const ReplicaModel model = [] {
        auto m = ReplicaModel::calibrated(test::data_dir());
        if (!m) throw std::runtime_error(m.error().message);
        return *m;
    }();
    return model;
}

GpuSettings with_clock(double mhz) {
    GpuSettings s;
    s.sm_clock_cap = from_mhz(mhz);
    return s;
}

GpuSettings with_limit(double watts) {
    GpuSettings s;
    s.power_limit = Watts(watts);
    return s;
}

TEST(ReplicaModel, DecodeTimeAtDefaultsIsTheLinearForm) {
    const ReplicaModel m(hand_params());
    const GpuSettings s;  // max clock, 700 W: P(B) <= 700 W, so no throttling
    EXPECT_NEAR(m.decode_time(100, 50000, s).value(), 0.006 + 100 * 60e-6 + 50000 * 50e-9, 1e-15);
    EXPECT_NEAR(m.prefill_time(1000, s).value(), 0.003 + 1000 * 30e-6, 1e-15);
    EXPECT_EQ(m.prefill_time(0, s).value(), 0.0);
    EXPECT_NEAR(m.decode_power(0, s).value(), 450, 1e-9);
    EXPECT_NEAR(m.decode_power(50, s).value(), 450 + 250 * (1 - std::exp(-1.0)), 1e-9);
    EXPECT_NEAR(m.prefill_power(s).value(), 700, 1e-9);
    EXPECT_DOUBLE_EQ(core::to_mhz(m.effective_clock(1000, s)), 1980);
}

TEST(ReplicaModel, ClockCapStretchesOnlyTheComputePart) {
    const ReplicaModel m(hand_params());
    const double half = 990;
    const double t_max = 0.006 + 100 * 60e-6 + 50000 * 50e-9;
    EXPECT_NEAR(m.decode_time(100, 50000, with_clock(half)).value(), t_max + 100 * 20e-6, 1e-12);
    EXPECT_NEAR(m.prefill_time(1000, with_clock(half)).value(), 0.033 * (0.2 + 0.8 * 2), 1e-12);
    // Dynamic power scales as (f/f_max)^3 above the static part.
    EXPECT_NEAR(m.decode_power(0, with_clock(half)).value(), 250 + 200 / 8.0, 1e-9);
}

TEST(ReplicaModel, EffectiveClockSolvesThePowerLimit) {
    const ReplicaModel m(hand_params());
    const GpuSettings s = with_limit(400);
    const double p_max = m.decode_power(200, GpuSettings{}).value();
    ASSERT_GT(p_max, 400);
    const double f = core::to_mhz(m.effective_clock(200, s));
    EXPECT_NEAR(f, 1980 * std::cbrt((400.0 - 250) / (p_max - 250)), 1e-9);
    EXPECT_NEAR(m.decode_power(200, s).value(), 400, 1e-9);
    // The cap still binds when it is lower than what the limit allows.
    EXPECT_DOUBLE_EQ(core::to_mhz(m.effective_clock(200, with_clock(300))), 300);
}

TEST(ReplicaModel, LimitBelowTheLowestClockDutyCycles) {
    const ReplicaModel m(hand_params());
    const GpuSettings s = with_limit(200);  // below the 250 W static part
    EXPECT_DOUBLE_EQ(core::to_mhz(m.effective_clock(200, s)), 210);
    EXPECT_NEAR(m.decode_power(200, s).value(), 200, 1e-9);
    GpuSettings at_min = with_clock(210);
    const double p_min = m.decode_power(200, at_min).value();
    EXPECT_NEAR(m.decode_time(200, 1e5, s).value(), m.decode_time(200, 1e5, at_min).value() * p_min / 200,
                1e-12);
}

TEST(ReplicaModel, KvCapacityAndFixedPowers) {
    const ReplicaModel m(hand_params());
    EXPECT_EQ(m.kv_capacity_tokens(Precision::bf16), 400000);
    EXPECT_EQ(m.kv_capacity_tokens(Precision::fp8), 900000);
    ReplicaModelParams p = hand_params();
    p.fp8_kv_capacity_tokens = 0;  // unset: twice the bf16 capacity
    EXPECT_EQ(ReplicaModel(p).kv_capacity_tokens(Precision::fp8), 800000);
    EXPECT_EQ(m.idle_power(GpuSettings{}).value(), 110);
    EXPECT_EQ(m.parked_power().value(), 65);
    EXPECT_EQ(m.wake_delay().value(), 45);
}

TEST(ReplicaModel, KneeFormForHandSetParameters) {
    ReplicaModelParams p = hand_params();
    p.decode_compute_per_seq_s = 0;
    p.decode_compute_knee_batch = 100;
    const ReplicaModel m(p);
    const double t_max = m.decode_time(100, 0, GpuSettings{}).value();
    // Half the iteration is compute-bound at the knee; at half clock that half takes twice as long.
    EXPECT_NEAR(m.decode_time(100, 0, with_clock(990)).value(), t_max * 1.5, 1e-12);
}

TEST(ReplicaModel, RequestCostIsItsShareOfAFullBatch) {
    const ReplicaModel m(hand_params());
    GpuSettings s;
    s.batch_cap = 64;
    // Small requests: the batch cap binds.
    const double small = m.request_cost_s(200, 100, s);
    EXPECT_NEAR(small,
                100 * m.decode_time(64, 64 * (200 + 50), s).value() / 64 + m.prefill_time(200, s).value(),
                1e-12);
    // Huge requests: the KV cache binds (400000 / 20000 = 20 < 64).
    const double huge = m.request_cost_s(10000, 10000, s);
    EXPECT_NEAR(huge,
                10000 * m.decode_time(20, 20 * 15000.0, s).value() / 20 + m.prefill_time(10000, s).value(),
                1e-9);
    // A request larger than the cache still costs its work, alone.
    EXPECT_GT(m.request_cost_s(500000, 10, s), 10 * m.decode_time(1, 0, s).value());
    EXPECT_NEAR(m.request_cost_s(100, 0, s), m.prefill_time(100, s).value(), 1e-15);
    // A bigger batch shares the fixed cost more widely.
    s.batch_cap = 8;
    EXPECT_GT(m.request_cost_s(200, 100, s), small);
}

// --- The calibrated model: directions --------------------------------------------------------------------

TEST(CalibratedReplicaModel, TimeRisesWithBatchAndContext) {
    const auto& m = calibrated();
    const GpuSettings s;
    double previous = 0;
    for (int b : {1, 2, 8, 32, 64, 128, 256, 512, 1024}) {
        const double t = m.decode_time(b, b * 500.0, s).value();
        EXPECT_GT(t, previous) << b;
        previous = t;
    }
    EXPECT_LT(m.decode_time(64, 10000, s).value(), m.decode_time(64, 200000, s).value());
    EXPECT_LT(m.prefill_time(100, s).value(), m.prefill_time(4000, s).value());
}

TEST(CalibratedReplicaModel, TimeFallsWithClock) {
    const auto& m = calibrated();
    for (int b : {1, 64, 256}) {
        double previous = std::numeric_limits<double>::infinity();
        for (double mhz : {210.0, 600.0, 1005.0, 1410.0, 1980.0}) {
            const double t = m.decode_time(b, b * 500.0, with_clock(mhz)).value();
            EXPECT_LT(t, previous) << b << " at " << mhz;
            previous = t;
        }
    }
    EXPECT_GT(m.prefill_time(2000, with_clock(990)).value(), m.prefill_time(2000, GpuSettings{}).value());
}

TEST(CalibratedReplicaModel, PowerRisesWithBatchAndClock) {
    const auto& m = calibrated();
    const GpuSettings s;
    double previous = 0;
    for (int b : {0, 1, 8, 32, 64, 128, 256, 512}) {
        const double p = m.decode_power(b, s).value();
        EXPECT_GT(p, previous) << b;
        previous = p;
    }
    EXPECT_LT(m.decode_power(128, with_clock(1200)).value(), m.decode_power(128, s).value());
    EXPECT_GT(m.decode_power(1, s).value(), m.idle_power(s).value());
    EXPECT_GT(m.idle_power(s).value(), m.parked_power().value());
}

TEST(CalibratedReplicaModel, LowerPowerLimitLowersClockAndPower) {
    const auto& m = calibrated();
    const int batch = 256;
    double previous_clock = std::numeric_limits<double>::infinity();
    double previous_power = std::numeric_limits<double>::infinity();
    double previous_time = 0;
    for (double limit : {700.0, 600.0, 500.0, 400.0, 300.0}) {
        const GpuSettings s = with_limit(limit);
        const double clock = core::to_mhz(m.effective_clock(batch, s));
        const double power = m.decode_power(batch, s).value();
        const double time = m.decode_time(batch, batch * 500.0, s).value();
        EXPECT_LE(power, limit + 1e-9);
        if (limit < 690) {  // the saturated batch draws ~690 W: 700 W does not bind
            EXPECT_LT(clock, previous_clock) << limit;
            EXPECT_LT(power, previous_power) << limit;
            EXPECT_GT(time, previous_time) << limit;
        }
        previous_clock = clock;
        previous_power = power;
        previous_time = time;
    }
}

TEST(CalibratedReplicaModel, Fp8IsFasterAndHoldsMoreContext) {
    const auto& m = calibrated();
    GpuSettings bf16;
    GpuSettings fp8;
    fp8.precision = Precision::fp8;
    for (int b : {1, 32, 256}) {
        EXPECT_LT(m.decode_time(b, b * 1000.0, fp8).value(), m.decode_time(b, b * 1000.0, bf16).value()) << b;
    }
    EXPECT_LT(m.prefill_time(2000, fp8).value(), m.prefill_time(2000, bf16).value());
    EXPECT_GT(m.kv_capacity_tokens(Precision::fp8), m.kv_capacity_tokens(Precision::bf16));
    EXPECT_LT(m.request_cost_s(150, 400, fp8), m.request_cost_s(150, 400, bf16));
}

TEST(CalibratedReplicaModel, DefaultSettingsRunAtMaxClock) {
    const auto& m = calibrated();
    for (int b : {1, 64, 256, 1024})
        EXPECT_DOUBLE_EQ(core::to_mhz(m.effective_clock(b, GpuSettings{})), 1980) << b;
}

TEST(CalibratedReplicaModel, PropertyFiniteAndWithinTheLimit) {
    const auto& m = calibrated();
    const bool ok = rc::check("times and powers finite, positive, power <= limit, clock in [210, cap]", [&m] {
        GpuSettings s;
        s.sm_clock_cap = from_mhz(*rc::gen::inRange(210, 1981));
        s.power_limit = Watts(*rc::gen::inRange(200, 701));
        s.batch_cap = *rc::gen::inRange(1, 1025);
        s.precision = *rc::gen::element(Precision::bf16, Precision::fp8);
        const int batch = *rc::gen::inRange(1, 1025);
        const double context = *rc::gen::inRange(0, 1000) / 1000.0 * m.kv_capacity_tokens(s.precision);
        const int prompt = *rc::gen::inRange(1, 32768);
        const int output = *rc::gen::inRange(1, 8192);
        const double limit = s.power_limit.value();

        const double t = m.decode_time(batch, context, s).value();
        const double tp = m.prefill_time(prompt, s).value();
        const double p = m.decode_power(batch, s).value();
        const double pp = m.prefill_power(s).value();
        const double f = core::to_mhz(m.effective_clock(batch, s));
        const double cost = m.request_cost_s(prompt, output, s);
        RC_ASSERT(std::isfinite(t) && t > 0);
        RC_ASSERT(std::isfinite(tp) && tp > 0);
        RC_ASSERT(std::isfinite(cost) && cost > 0);
        RC_ASSERT(std::isfinite(p) && p > 0 && p <= limit);
        RC_ASSERT(std::isfinite(pp) && pp > 0 && pp <= limit);
        RC_ASSERT(m.idle_power(s).value() <= limit);
        RC_ASSERT(f >= 210 - 1e-9 && f <= core::to_mhz(s.sm_clock_cap) + 1e-9);
        // A tighter limit never speeds decode up nor raises its power.
        GpuSettings tighter = s;
        tighter.power_limit = Watts(limit - *rc::gen::inRange(1, 100));
        RC_ASSERT(m.decode_power(batch, tighter).value() <= p + 1e-9);
        RC_ASSERT(m.decode_time(batch, context, tighter).value() >= t - 1e-12);
    });
    EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace joulepilot::twin
