#pragma once
// /metrics: turns a MetricsSnapshot into Prometheus metric families and serialises them with
// prometheus-cpp's core TextSerializer (text exposition format 0.0.4). The families are rebuilt from the
// snapshot at every scrape, so nothing here keeps state and a scrape never touches the loop.
// Names follow DESIGN.md section 6 (`joulepilot_<thing>_<unit>[_total]`); docs/metrics.md lists them all.
// Signals map to metrics by their names ("gpu.<i>.power_watts" -> joulepilot_gpu_power_watts{gpu="<i>"});
// every signal is also exported as joulepilot_signal_value{signal,unit,provenance}. Missing values are
// left out (never exported as 0). Pure functions; safe from any thread.

#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "serve/api_types.hpp"

namespace joulepilot::serve {

std::vector<prometheus::MetricFamily> metric_families(const MetricsSnapshot& snapshot);
std::string render_metrics(const MetricsSnapshot& snapshot);

// The Content-Type of the text format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace joulepilot::serve
