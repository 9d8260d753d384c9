#include "cli/report_html.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/units.hpp"

namespace joulepilot::cli {

namespace {

using twin::RunSummary;

#ifdef JOULEPILOT_VERSION
constexpr std::string_view kVersion = JOULEPILOT_VERSION;
#else
constexpr std::string_view kVersion = "unknown";
#endif

constexpr std::string_view kBaselinePolicy = "static";

// Line colours, one per policy in run order (a colour-blind-friendly categorical palette); the static
// baseline is always the dashed dark grey so the eye finds it first.
constexpr std::array<std::string_view, 8> kPalette = {"#1f77b4", "#e8710a", "#2ca02c", "#d62728",
                                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr std::string_view kBaselineColor = "#4b5563";

enum class Better { lower, higher };

// One headline column of the table: its header (HTML), how to read and print it, which way is better,
// and whether it is compared as a ratio or (for percentages) as a difference in points.
struct Column {
    std::string_view header;
    double (*value)(const RunSummary&);
    int decimals;  // -1: by magnitude
    Better better;
    bool as_ratio;
};

const std::array<Column, 10> kColumns = {{
    {"IT energy<br><span class=\"unit\">kWh</span>",
     [](const RunSummary& r) { return core::to_kwh(core::Joules(r.it_energy_j)); }, -1, Better::lower, true},
    {"Facility energy<br><span class=\"unit\">kWh</span>",
     [](const RunSummary& r) { return core::to_kwh(core::Joules(r.facility_energy_j)); }, -1, Better::lower,
     true},
    {"Energy / token<br><span class=\"unit\">J (facility)</span>",
     [](const RunSummary& r) { return r.energy_per_token_j; }, -1, Better::lower, true},
    {"p99 TTFT<br><span class=\"unit\">ms</span>", [](const RunSummary& r) { return r.p99_ttft_s * 1e3; }, -1,
     Better::lower, true},
    {"p99 TPOT<br><span class=\"unit\">ms</span>", [](const RunSummary& r) { return r.p99_tpot_s * 1e3; }, -1,
     Better::lower, true},
    {"SLO attainment<br><span class=\"unit\">%</span>",
     [](const RunSummary& r) { return r.slo_attainment * 100; }, 2, Better::higher, false},
    {"Throughput<br><span class=\"unit\">tokens/s</span>",
     [](const RunSummary& r) { return r.throughput_tokens_per_s; }, -1, Better::higher, true},
    {"Carbon<br><span class=\"unit\">gCO&#8322;e</span>", [](const RunSummary& r) { return r.carbon_g; }, -1,
     Better::lower, true},
    {"Cost<br><span class=\"unit\">USD</span>", [](const RunSummary& r) { return r.cost_usd; }, 2,
     Better::lower, true},
    {"Mean PUE<br><span class=\"unit\">estimated</span>", [](const RunSummary& r) { return r.mean_pue; }, 3,
     Better::lower, true},
}};

// One chart over the run: a TimelinePoint field, scaled for display, drawn per policy.
struct ChartSpec {
    std::string_view id;
    std::string_view title;
    std::string_view y_label;
    double (*value)(const twin::TimelinePoint&);
    bool stepped;        // a setting held over the interval rather than a sampled rate
    bool begin_at_zero;  // false only for SLO attainment, which lives just under 100%
};

const std::array<ChartSpec, 7> kCharts = {{
    {"load", "Offered load", "Arrivals (requests/s)",
     [](const twin::TimelinePoint& p) { return p.arrivals_rps; }, false, true},
    {"power", "Fleet IT power", "GPU power (W)", [](const twin::TimelinePoint& p) { return p.fleet_power_w; },
     false, true},
    {"replicas", "Active replicas", "Replicas serving (mean)",
     [](const twin::TimelinePoint& p) { return p.active_replicas; }, true, true},
    {"clock", "Mean SM clock", "SM clock (MHz)",
     [](const twin::TimelinePoint& p) { return p.mean_sm_clock_mhz; }, true, true},
    {"batch", "Mean batch cap", "Batch cap (requests)",
     [](const twin::TimelinePoint& p) { return p.mean_batch_cap; }, true, true},
    {"power-limit", "Mean GPU power limit", "Power limit (W)",
     [](const twin::TimelinePoint& p) { return p.mean_power_limit_w; }, true, true},
    {"slo", "SLO attainment per interval", "Requests meeting both SLOs (%)",
     [](const twin::TimelinePoint& p) { return p.slo_attainment * 100; }, false, false},
}};

// "12,345.6": thousands separators, decimals fixed or chosen by magnitude (3 significant digits for
// small values); an en dash for a value that is not finite.
std::string format_number(double value, int decimals) {
    if (!std::isfinite(value)) return "\u2013";
    if (decimals < 0) {
        const double magnitude = std::fabs(value);
        decimals = magnitude >= 100 ? (magnitude >= 1000 ? 0 : 1) : (magnitude >= 10 ? 2 : 3);
    }
    std::string text = fmt::format("{:.{}f}", value, decimals);
    const std::size_t digits_start = text.front() == '-' ? 1 : 0;
    std::size_t integer_end = text.find('.');
    if (integer_end == std::string::npos) integer_end = text.size();
    for (std::size_t pos = integer_end; pos > digits_start + 3; pos -= 3) text.insert(pos - 3, ",");
    return text;
}

// The comparison of a run's value with the baseline's, as a table cell annotation.
std::string format_comparison(const Column& column, double value, double baseline) {
    if (!std::isfinite(value) || !std::isfinite(baseline)) return {};
    double change = 0;  // > 0: the run is better
    std::string text;
    if (column.as_ratio) {
        if (baseline == 0) return {};
        const double ratio = value / baseline;
        text = fmt::format("{:.2f}\u00d7 static", ratio);
        change = column.better == Better::lower ? 1 - ratio : ratio - 1;
    } else {
        const double points = value - baseline;
        text = fmt::format("{:+.2f} pp vs static", points);
        change = column.better == Better::lower ? -points / 100 : points / 100;
    }
    // Changes under half a percent are shown neutral: they are within a run's noise.
    const char* tone = change > 0.005 ? "better" : (change < -0.005 ? "worse" : "same");
    return fmt::format("<span class=\"cmp {}\">{}</span>", tone, escape_html(text));
}

std::string run_color(const RunSummary& run, std::size_t index) {
    return std::string(run.policy == kBaselinePolicy ? kBaselineColor : kPalette[index % kPalette.size()]);
}

// "a, b" of the distinct non-empty values, in first-seen order.
template <class Get>
std::string distinct(const std::vector<RunSummary>& runs, Get get) {
    std::vector<std::string> seen;
    for (const auto& run : runs) {
        std::string value = get(run);
        if (!value.empty() && std::find(seen.begin(), seen.end(), value) == seen.end()) seen.push_back(value);
    }
    std::string joined;
    for (const auto& value : seen) joined += (joined.empty() ? "" : ", ") + value;
    return joined;
}

std::string render_subtitle(const std::vector<RunSummary>& runs) {
    if (runs.empty()) return "No runs to show.";
    std::vector<std::string> parts;
    if (auto scenario = distinct(runs, [](const RunSummary& r) { return r.scenario; }); !scenario.empty()) {
        parts.push_back("Scenario <b>" + escape_html(scenario) + "</b>");
    }
    if (auto zone = distinct(runs, [](const RunSummary& r) { return r.zone; }); !zone.empty()) {
        parts.push_back("grid zone <b>" + escape_html(zone) + "</b>");
    }
    const auto gpus =
        distinct(runs, [](const RunSummary& r) { return r.gpus > 0 ? std::to_string(r.gpus) : ""; });
    if (!gpus.empty()) parts.push_back(escape_html(gpus) + " GPUs");
    parts.push_back(format_number(runs.front().simulated_s / 3600, 1) + " h simulated");
    parts.push_back(format_number(static_cast<double>(runs.front().requests), 0) + " requests");
    parts.push_back(fmt::format("{} {}", runs.size(), runs.size() == 1 ? "policy" : "policies"));
    std::string text;
    for (const auto& part : parts) text += (text.empty() ? "" : " &middot; ") + part;
    return text;
}

std::string render_table(const std::vector<RunSummary>& runs) {
    const RunSummary* baseline = nullptr;
    for (const auto& run : runs) {
        if (run.policy == kBaselinePolicy && baseline == nullptr) baseline = &run;
    }
    std::string html = "<table class=\"headline\">\n<thead><tr><th class=\"policy\">Policy</th>";
    for (const auto& column : kColumns) html += fmt::format("<th>{}</th>", column.header);
    html += "</tr></thead>\n<tbody>\n";
    if (runs.empty()) {
        html +=
            fmt::format("<tr><td colspan=\"{}\" class=\"empty\">No runs.</td></tr>\n", kColumns.size() + 1);
    }
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const RunSummary& run = runs[i];
        const bool is_baseline = &run == baseline;
        html += fmt::format(
            "<tr{}><td class=\"policy\"><span class=\"swatch\" style=\"background:{}\"></span>{}{}</td>",
            is_baseline ? " class=\"baseline\"" : "", run_color(run, i), escape_html(run.policy),
            is_baseline ? " <span class=\"badge\">baseline</span>" : "");
        for (const auto& column : kColumns) {
            const double value = column.value(run);
            html += "<td>" + format_number(value, column.decimals);
            if (baseline != nullptr && !is_baseline) {
                html += format_comparison(column, value, column.value(*baseline));
            }
            html += "</td>";
        }
        html += "</tr>\n";
    }
    html += "</tbody>\n</table>\n";
    return html;
}

// The data block: chart specs and, per run, the timeline columns the charts draw.
nlohmann::json report_data(const std::vector<RunSummary>& runs, const std::string& title) {
    nlohmann::json data;
    data["title"] = title;
    data["charts"] = nlohmann::json::array();
    for (const auto& chart : kCharts) {
        data["charts"].push_back({{"id", chart.id},
                                  {"title", chart.title},
                                  {"y_label", chart.y_label},
                                  {"stepped", chart.stepped},
                                  {"begin_at_zero", chart.begin_at_zero}});
    }
    data["runs"] = nlohmann::json::array();
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const RunSummary& run = runs[i];
        nlohmann::json hours = nlohmann::json::array();
        for (const auto& point : run.timeline) hours.push_back(point.t_s / 3600);
        nlohmann::json series = nlohmann::json::object();
        for (const auto& chart : kCharts) {
            nlohmann::json values = nlohmann::json::array();
            // nlohmann writes NaN and infinities as null, which Chart.js draws as a gap.
            for (const auto& point : run.timeline) values.push_back(chart.value(point));
            series[std::string(chart.id)] = std::move(values);
        }
        data["runs"].push_back({{"policy", run.policy},
                                {"color", run_color(run, i)},
                                {"baseline", run.policy == kBaselinePolicy},
                                {"t_h", std::move(hours)},
                                {"series", std::move(series)}});
    }
    return data;
}

// JSON text safe inside <script type="application/json">: '<', '>' and '&' only occur inside JSON
// strings, where their \u escapes mean the same, so no "</script" or "<!--" can appear.
std::string script_safe_json(const nlohmann::json& data) {
    // Invalid UTF-8 (a policy name from the command line) is replaced rather than throwing.
    const std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(text.size() + text.size() / 16);
    for (const char c : text) {
        switch (c) {
            case '<':
                out += "\\u003c";
                break;
            case '>':
                out += "\\u003e";
                break;
            case '&':
                out += "\\u0026";
                break;
            default:
                out += c;
        }
    }
    return out;
}

constexpr std::string_view kStyle = R"css(
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --card: #ffffff; --page: #f4f5f7;
        --better: #15803d; --worse: #b91c1c; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 28px 32px 8px; }
h1 { font-size: 24px; font-weight: 650; margin: 0 0 4px; }
h2 { font-size: 16px; font-weight: 650; margin: 28px 0 10px; }
h3 { font-size: 14px; font-weight: 600; margin: 0 0 8px; }
.subtitle { color: var(--muted); margin: 0 0 6px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        box-shadow: 0 1px 2px rgba(0, 0, 0, 0.04); }
.table-wrap { overflow-x: auto; }
table.headline { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.headline th, table.headline td { padding: 9px 12px; text-align: right; vertical-align: top;
                                       border-bottom: 1px solid var(--line); white-space: nowrap; }
table.headline th { font-size: 12px; font-weight: 600; color: var(--ink); background: #f9fafb;
                    vertical-align: bottom; }
table.headline th .unit { font-weight: 400; color: var(--muted); }
table.headline tbody tr:last-child td { border-bottom: none; }
table.headline tbody tr:nth-child(even) td { background: #fbfbfc; }
table.headline tr.baseline td { background: #f3f4f6; }
table.headline .policy { text-align: left; font-weight: 600; }
table.headline td.empty { text-align: center; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 8px; }
.badge { font-size: 11px; font-weight: 500; color: var(--muted); border: 1px solid var(--line);
         border-radius: 10px; padding: 0 6px; margin-left: 4px; }
.cmp { display: block; font-size: 11px; color: var(--muted); }
.cmp.better { color: var(--better); }
.cmp.worse { color: var(--worse); }
.note { color: var(--muted); font-size: 12px; margin: 8px 2px 0; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.chart { padding: 14px 16px 10px; }
.chart .canvas-box { position: relative; height: 270px; }
footer { max-width: 1320px; margin: 24px auto 0; padding: 14px 32px 28px; color: var(--muted);
         font-size: 12px; border-top: 1px solid var(--line); }
footer p { margin: 4px 0; }
@media (max-width: 900px) { .charts { grid-template-columns: minmax(0, 1fr); } }
)css";

// Builds the charts from the data block. Interval values are drawn at the interval's start; settings
// (stepped charts) hold until the next interval, so the last one gets a closing point one interval on.
constexpr std::string_view kChartScript = R"js(
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('jp-data').textContent);
  if (typeof Chart === 'undefined') { return; }
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 12;
  Chart.defaults.color = '#374151';
  // The end of a run's last interval (intervals are equal; a lone one is taken as 5 minutes).
  function runEnd(run) {
    var n = run.t_h.length;
    return run.t_h[n - 1] + (n > 1 ? run.t_h[n - 1] - run.t_h[n - 2] : 1 / 12);
  }
  // One time axis for every chart, from the first interval's start to the last one's end, rounded
  // because sums of interval lengths carry float noise (24.000000000000004), with ticks at a round step.
  var xMin = Infinity, xMax = -Infinity;
  data.runs.forEach(function (run) {
    if (run.t_h.length === 0) { return; }
    xMin = Math.min(xMin, run.t_h[0]);
    xMax = Math.max(xMax, runEnd(run));
  });
  if (!isFinite(xMin)) { xMin = 0; xMax = 1; }
  xMin = Math.round(xMin * 1e6) / 1e6;
  xMax = Math.round(xMax * 1e6) / 1e6;
  var xStep = [0.25, 0.5, 1, 2, 3, 4, 6, 12, 24, 48, 168].find(function (s) {
    return (xMax - xMin) / s <= 12;
  }) || 336;
  data.charts.forEach(function (spec) {
    var datasets = data.runs.map(function (run) {
      var ys = run.series[spec.id];
      var points = run.t_h.map(function (x, i) { return { x: x, y: ys[i] }; });
      var n = points.length;
      if (spec.stepped && n > 0) { points.push({ x: runEnd(run), y: ys[n - 1] }); }
      return {
        label: run.policy, data: points, borderColor: run.color, backgroundColor: run.color,
        borderWidth: run.baseline ? 2 : 1.6, borderDash: run.baseline ? [6, 4] : [],
        pointRadius: 0, pointHoverRadius: 3, stepped: spec.stepped, spanGaps: false
      };
    });
    new Chart(document.getElementById('chart-' + spec.id), {
      type: 'line',
      data: { datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        plugins: {
          legend: { position: 'top', align: 'end', labels: { boxWidth: 14, boxHeight: 3 } },
          tooltip: {
            callbacks: {
              title: function (items) {
                return items.length ? 't = ' + items[0].parsed.x.toFixed(2) + ' h' : '';
              }
            }
          }
        },
        scales: {
          x: { type: 'linear', min: xMin, max: xMax, title: { display: true, text: 'Simulated time (h)' },
               grid: { color: '#eef0f3' },
               ticks: { stepSize: xStep, callback: function (v) { return +v.toFixed(2); } } },
          y: { beginAtZero: spec.begin_at_zero, title: { display: true, text: spec.y_label },
               grid: { color: '#eef0f3' } }
        }
      }
    });
  });
})();
)js";

}  // namespace

std::string escape_html(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string escape_inline_script(std::string_view code) {
    constexpr std::string_view kTag = "</script";
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    const auto closes_at = [&](std::size_t pos) {
        if (pos + kTag.size() > code.size()) return false;
        for (std::size_t k = 0; k < kTag.size(); ++k) {
            if (lower(code[pos + k]) != kTag[k]) return false;
        }
        return true;
    };
    std::string out;
    out.reserve(code.size());
    for (std::size_t i = 0; i < code.size(); ++i) {
        out += code[i];
        if (code[i] == '<' && closes_at(i)) out += '\\';  // "<" then "\/script..."
    }
    return out;
}

std::string render_report_html(const std::vector<twin::RunSummary>& runs, const std::string& title) {
    std::string html;
    html.reserve(assets::kChartJs.size() + std::size_t{64} * 1024);  // Chart.js plus the page and data
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    html += fmt::format("<meta name=\"generator\" content=\"joulepilot {}\">\n", escape_html(kVersion));
    html += "<title>" + escape_html(title) + "</title>\n<style>" + std::string(kStyle) +
            "</style>\n</head>\n<body>\n";

    html += "<main>\n<h1>" + escape_html(title) + "</h1>\n";
    html += "<p class=\"subtitle\">" + render_subtitle(runs) + "</p>\n";

    html += "<h2>Headline numbers</h2>\n<div class=\"card table-wrap\">\n" + render_table(runs) + "</div>\n";
    html +=
        "<p class=\"note\">Facility energy is IT (GPU) energy &times; PUE; energy per token is facility "
        "energy "
        "per generated token. Carbon and cost use each hour&rsquo;s grid intensity and tariff. Ratios "
        "compare "
        "with the <code>static</code> run (below 1 is less); SLO attainment is compared in percentage "
        "points. "
        "Green: better than static, red: worse.</p>\n";

    html += "<h2>Over the run</h2>\n<div class=\"charts\">\n";
    for (const auto& chart : kCharts) {
        html += fmt::format(
            "<section class=\"card chart\"><h3>{}</h3><div class=\"canvas-box\"><canvas id=\"chart-{}\" "
            "role=\"img\" aria-label=\"{}\"></canvas></div></section>\n",
            escape_html(chart.title), chart.id, escape_html(chart.title));
    }
    html += "</div>\n</main>\n";

    html += "<footer>\n";
    html +=
        "<p><b>Data.</b> Grid carbon intensity: Electricity Maps (electricitymaps.com), ODbL; weather: "
        "Open-Meteo.com, CC-BY-4.0; load: ServeGen (Apache-2.0) / Azure LLM inference trace 2023 "
        "(CC-BY-4.0).</p>\n";
    html +=
        "<p><b>Estimated.</b> PUE is a stated model of outside temperature and IT load, not a measurement "
        "(no measured PUE series is public); facility energy, carbon and cost inherit that estimate.</p>\n";
    html += fmt::format(
        "<p>Generated by joulepilot {} from a digital-twin simulation. Charts: Chart.js (MIT), "
        "embedded so this page works offline.</p>\n",
        escape_html(kVersion));
    html += "</footer>\n";

    html += "<script type=\"application/json\" id=\"jp-data\">" + script_safe_json(report_data(runs, title)) +
            "</script>\n";
    html += "<script>" + escape_inline_script(assets::kChartJs) + "</script>\n";
    html += "<script>" + escape_inline_script(kChartScript) + "</script>\n";
    html += "</body>\n</html>\n";
    return html;
}

}  // namespace joulepilot::cli
