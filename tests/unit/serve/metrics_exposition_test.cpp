// /metrics text: names per DESIGN.md section 6, signals mapped by name, missing values left out, and the
// text parses back (strict parser of the exposition format) whatever the label values hold.
#include "serve/metrics_exposition.hpp"

#include <gtest/gtest.h>
#include <prometheus/check_names.h>
#include <rapidcheck/gtest.h>

#include "unit/serve/exposition_parser.hpp"

namespace joulepilot::serve {
namespace {

MetricsSnapshot sample_snapshot() {
    MetricsSnapshot m;
    m.status.version = "0.1.0";
    m.status.world = "node";
    m.status.policy = "static";
    m.status.shield_mode = "observe";
    m.status.ticks = 10;
    m.status.tick_deadline_misses = 1;
    m.status.last_tick = core::Seconds(1.7e9);
    m.status.rollbacks = 2;
    m.status.decisions = 3;
    m.status.actions_by_outcome = {{"clamped", 1}};
    m.status.sensor_errors = {{"rapl", 4}};
    m.status.ledger = {true, 10, 2, 1, 3, 100, ""};
    m.status.knobs = {{"gpu.1.sm_clock_cap_hz", "Hz", 1.41e9, 1.98e9, 2.1e8, 1.98e9, false, ""}};
    m.status.efficiency.energy_per_token_joules = 0.5;
    m.status.efficiency.tokens_per_joule = 2.0;
    m.status.efficiency.estimated_savings_joules_total = 1000.0;
    m.status.efficiency.estimated_savings_ratio = 0.1;
    m.signals = {
        {"gpu.1.power_watts", "W", "measured", 300.0},
        {"gpu.1.energy_joules_total", "J", "measured", 9000.0},
        {"gpu.2.power_watts", "W", "measured", std::nullopt},
        {"cpu.0.package_energy_joules_total", "J", "measured", 500.0},
        {"cpu.1.dram_power_watts", "W", "derived", 12.0},
        {"cpu.estimated_power_watts", "W", "estimated", 80.0},
        {"node.ipmi_power_watts", "W", "measured", 900.0},
        {"service.slo_attainment_ratio", "ratio", "measured", 0.995},
        {"replica.0.queue_requests", "requests", "measured", 3.0},
    };
    m.models = {{"m1", 5, 50, 100, 40.0, 0.4, 8.0, 0.01, "derived"}};
    return m;
}

TEST(MetricsExposition, MapsSignalsToDesignNames) {
    const std::string text = render_metrics(sample_snapshot());
    auto parsed = testing::parse_exposition(text);
    ASSERT_TRUE(parsed) << parsed.error() << "\n" << text;
    EXPECT_EQ(parsed->value("joulepilot_gpu_power_watts", {{"gpu", "1"}}), 300.0);
    EXPECT_EQ(parsed->value("joulepilot_gpu_energy_joules_total", {{"gpu", "1"}}), 9000.0);
    EXPECT_EQ(parsed->types["joulepilot_gpu_energy_joules_total"], "counter");
    EXPECT_EQ(parsed->types["joulepilot_gpu_power_watts"], "gauge");
    EXPECT_FALSE(parsed->value("joulepilot_gpu_power_watts", {{"gpu", "2"}}));  // missing: left out
    EXPECT_EQ(parsed->value("joulepilot_cpu_package_energy_joules_total", {{"package", "0"}}), 500.0);
    EXPECT_EQ(parsed->value("joulepilot_cpu_dram_power_watts", {{"package", "1"}}), 12.0);
    EXPECT_EQ(parsed->value("joulepilot_cpu_estimated_power_watts"), 80.0);
    EXPECT_EQ(parsed->value("joulepilot_node_power_watts", {{"source", "ipmi"}}), 900.0);
    EXPECT_EQ(parsed->value("joulepilot_slo_attainment_ratio"), 0.995);
    EXPECT_EQ(parsed->value("joulepilot_energy_per_token_joules"), 0.5);
    EXPECT_EQ(parsed->value("joulepilot_tokens_per_joule"), 2.0);
    EXPECT_FALSE(parsed->value("joulepilot_energy_per_request_joules"));
    EXPECT_EQ(parsed->value("joulepilot_estimated_savings_joules_total"), 1000.0);
    EXPECT_EQ(parsed->value("joulepilot_knob_value", {{"knob", "gpu.1.sm_clock_cap_hz"}, {"unit", "Hz"}}),
              1.41e9);
    EXPECT_EQ(parsed->value("joulepilot_rollbacks_total"), 2.0);
    EXPECT_EQ(parsed->value("joulepilot_decisions_total"), 3.0);
    EXPECT_EQ(parsed->value("joulepilot_actions_total", {{"outcome", "clamped"}}), 1.0);
    EXPECT_EQ(parsed->value("joulepilot_sensor_errors_total", {{"sensor", "rapl"}}), 4.0);
    EXPECT_EQ(parsed->value("joulepilot_tick_deadline_misses_total"), 1.0);
    EXPECT_EQ(parsed->value("joulepilot_ledger_rows_dropped_total"), 2.0);
    EXPECT_EQ(parsed->value("joulepilot_ledger_write_errors_total"), 1.0);
    EXPECT_EQ(parsed->value("joulepilot_ledger_queue_rows"), 3.0);
    EXPECT_EQ(parsed->value("joulepilot_model_energy_joules_total", {{"model", "m1"}}), 40.0);
    EXPECT_EQ(parsed->value("joulepilot_info", {{"world", "node"}, {"shield_mode", "observe"}}), 1.0);
    // Every signal, mapped or not, is also there under its own name.
    EXPECT_EQ(parsed->value("joulepilot_signal_value", {{"signal", "replica.0.queue_requests"}}), 3.0);
    EXPECT_EQ(parsed->value("joulepilot_signal_value",
                            {{"signal", "cpu.estimated_power_watts"}, {"provenance", "estimated"}}),
              80.0);
}

TEST(MetricsExposition, EveryFamilyHasAValidNameHelpAndUnitSuffix) {
    for (const auto& family : metric_families(sample_snapshot())) {
        EXPECT_TRUE(prometheus::CheckMetricName(family.name)) << family.name;
        EXPECT_EQ(family.name.rfind("joulepilot_", 0), 0U) << family.name;
        EXPECT_FALSE(family.help.empty()) << family.name;
        EXPECT_FALSE(family.metric.empty()) << family.name;
        if (family.type == prometheus::MetricType::Counter) {
            EXPECT_TRUE(family.name.size() > 6 && family.name.substr(family.name.size() - 6) == "_total")
                << family.name;
        }
        for (const auto& metric : family.metric) {
            for (const auto& label : metric.label)
                EXPECT_TRUE(prometheus::CheckLabelName(label.name)) << label.name;
        }
    }
}

TEST(MetricsExposition, LedgerMetricsOnlyWhenTheLedgerRuns) {
    MetricsSnapshot m = sample_snapshot();
    m.status.ledger.enabled = false;
    auto parsed = testing::parse_exposition(render_metrics(m));
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_FALSE(parsed->value("joulepilot_ledger_rows_dropped_total"));
}

TEST(MetricsExposition, EmptySnapshotStillParses) {
    auto parsed = testing::parse_exposition(render_metrics(MetricsSnapshot{}));
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->value("joulepilot_ticks_total"), 0.0);
}

// Label values come from outside (signal names, model names posted by clients): whatever they hold, the
// text must parse back to the same values.
RC_GTEST_PROP(MetricsExposition, AnyLabelValueParsesBack, ()) {
    const auto chars = rc::gen::elementOf(std::string("ab.-_ \"\\\n{}=,#x9"));
    const std::string model = *rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(1, 20), chars);
    const std::string signal = *rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(1, 20), chars);
    const double value = *rc::gen::inRange(-1000000, 1000000) / 7.0;
    MetricsSnapshot m;
    m.signals = {{signal, "W", "measured", value}};
    m.models = {
        {model, 1, 1, 1, value < 0 ? -value : value, std::nullopt, std::nullopt, std::nullopt, "derived"}};
    auto parsed = testing::parse_exposition(render_metrics(m));
    RC_ASSERT(parsed.has_value());
    const auto got = parsed->value("joulepilot_signal_value", {{"signal", signal}});
    RC_ASSERT(got.has_value());
    RC_ASSERT(std::abs(*got - value) <= 1e-9 * std::max(1.0, std::abs(value)));
    RC_ASSERT(parsed->value("joulepilot_model_requests_total", {{"model", model}}).has_value());
}

}  // namespace
}  // namespace joulepilot::serve
