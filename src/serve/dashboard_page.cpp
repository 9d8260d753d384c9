#include "serve/dashboard_page.hpp"

#include <string_view>

namespace joulepilot::assets {
// Chart.js (MIT), generated into jp_assets from Debian's libjs-chart.js.
extern const std::string_view kChartJs;
}  // namespace joulepilot::assets

namespace joulepilot::serve {

namespace {

// Inside <script>, "</script" (any case) would end the element: write "<\/script", which the script
// reads the same. (The twin report in src/cli does the same; serve cannot depend on cli.)
std::string inline_script(std::string_view code) {
    constexpr std::string_view kTag = "</script";
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    std::string out;
    out.reserve(code.size() + 16);
    for (std::size_t i = 0; i < code.size(); ++i) {
        out += code[i];
        if (code[i] != '<' || i + kTag.size() > code.size()) continue;
        bool closes = true;
        for (std::size_t k = 0; k < kTag.size() && closes; ++k) closes = lower(code[i + k]) == kTag[k];
        if (closes) out += '\\';
    }
    return out;
}

constexpr std::string_view kHead = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>joulepilot agent</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f7f7f8; color: #1f2937; }
  header { background: #111827; color: #f9fafb; padding: 10px 20px; display: flex; gap: 24px; flex-wrap: wrap; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header span { font-size: 13px; color: #d1d5db; }
  header b { color: #fff; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; padding: 14px 20px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 14px; }
  section h2 { font-size: 14px; margin: 0 0 6px 0; color: #374151; }
  .chart { position: relative; height: 240px; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #f0f0f0; vertical-align: top; }
  th { color: #6b7280; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .note { font-size: 11px; color: #6b7280; }
  #error { display: none; background: #fee2e2; color: #991b1b; padding: 8px 20px; font-size: 13px; }
  .wide { grid-column: 1 / -1; }
</style>
</head>
<body>
<header>
  <h1>joulepilot</h1>
  <span>world <b id="h-world">-</b></span>
  <span>policy <b id="h-policy">-</b></span>
  <span>shield <b id="h-shield">-</b></span>
  <span>uptime <b id="h-uptime">-</b></span>
  <span>ticks <b id="h-ticks">-</b></span>
  <span>deadline misses <b id="h-misses">-</b></span>
  <span>ledger <b id="h-ledger">-</b></span>
</header>
<div id="error"></div>
<main>
  <section><h2>Power per domain (W)</h2><div class="chart"><canvas id="chart-power"></canvas></div>
    <div class="note">x: minutes before the last tick (agent clock)</div></section>
  <section><h2>Energy per token (J)</h2><div class="chart"><canvas id="chart-ept"></canvas></div>
    <div class="note" id="ept-note">sampled by this page at each refresh</div></section>
  <section><h2>SLO attainment</h2><div class="chart"><canvas id="chart-slo"></canvas></div>
    <div class="note">fraction of recent requests that met both latency SLOs</div></section>
  <section><h2>Knob settings</h2>
    <table><thead><tr><th>knob</th><th>value</th><th>default</th><th>range</th><th>unit</th></tr></thead>
    <tbody id="knobs"></tbody></table></section>
  <section class="wide"><h2>Latest decisions</h2>
    <table><thead><tr><th>time</th><th>policy</th><th>trigger</th><th>settings</th><th>rationale</th></tr></thead>
    <tbody id="decisions"></tbody></table></section>
</main>
<pre id="render-check" hidden>{}</pre>
)HTML";

constexpr std::string_view kScript = R"JS(
"use strict";
const POLL_MS = 2000;
const WINDOW_S = 900;
const PALETTE = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#4b5563", "#bcbd22"];
const state = { polls: 0, errors: [], ept: [] };

function lineChart(id, yLabel, yMin, yMax) {
  return new Chart(document.getElementById(id), {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false, parsing: false, responsive: true, maintainAspectRatio: false, normalized: true,
      elements: { point: { radius: 2 }, line: { borderWidth: 2, tension: 0 } },
      scales: {
        x: { type: "linear", title: { display: true, text: "minutes (0 = last tick)" } },
        y: { title: { display: true, text: yLabel }, min: yMin, max: yMax, beginAtZero: yMin === undefined },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
    },
  });
}
const charts = {
  power: lineChart("chart-power", "W"),
  ept: lineChart("chart-ept", "J / token"),
  slo: lineChart("chart-slo", "ratio", 0, 1),
};

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : "HTTP " + response.status;
    throw new Error(path + ": " + message);
  }
  return body;
}

function setText(id, text) { document.getElementById(id).textContent = text; }
function fmt(v, digits) {
  if (v === null || v === undefined) return "-";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return v.toFixed(digits === undefined ? (a >= 100 ? 0 : a >= 1 ? 2 : 4) : digits);
}
function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? h + " h " + m + " min" : m + " min " + Math.floor(s % 60) + " s";
}
function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function setSeries(chart, series, now) {
  chart.data.datasets = series.map((s, i) => ({
    label: s.label,
    data: s.points.filter(p => p[1] !== null).map(p => ({ x: (p[0] - now) / 60, y: p[1] })),
    borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length],
  }));
  chart.update();
}

function isPowerSignal(name) {
  return /(^|[._])power_watts$/.test(name) && !/limit|_min_|_max_/.test(name);
}

function showStatus(st) {
  setText("h-world", st.world || "-");
  setText("h-policy", st.policy || "-");
  setText("h-shield", st.shield_mode || "-");
  setText("h-uptime", duration(st.uptime_seconds || 0));
  setText("h-ticks", String(st.ticks));
  setText("h-misses", String(st.tick_deadline_misses));
  const l = st.ledger;
  setText("h-ledger", !l.enabled ? "off" : l.dropped + l.write_errors > 0
      ? l.dropped + " dropped, " + l.write_errors + " write errors" : "ok, queue " + l.queue_depth);
  const body = document.getElementById("knobs");
  body.replaceChildren();
  for (const k of st.knobs) {
    const row = document.createElement("tr");
    cell(row, k.name); cell(row, fmt(k.value), "num"); cell(row, fmt(k.default), "num");
    cell(row, fmt(k.min) + " .. " + fmt(k.max), "num"); cell(row, k.unit);
    body.appendChild(row);
  }
  const e = st.efficiency;
  if (e.energy_per_token_joules !== null && st.last_tick !== null) {
    const last = state.ept.length ? state.ept[state.ept.length - 1][0] : null;
    if (last !== st.last_tick) state.ept.push([st.last_tick, e.energy_per_token_joules]);
    while (state.ept.length && st.last_tick - state.ept[0][0] > WINDOW_S) state.ept.shift();
    setText("ept-note", "sampled by this page at each refresh; provenance: " + e.provenance);
  }
  setSeries(charts.ept, [{ label: "energy per token", points: state.ept }], st.last_tick || 0);
}

function showDecisions(decisions) {
  const body = document.getElementById("decisions");
  body.replaceChildren();
  for (const d of decisions.slice().reverse()) {
    const row = document.createElement("tr");
    cell(row, fmt(d.time, 0), "num"); cell(row, d.policy); cell(row, d.trigger);
    cell(row, d.settings.map(s => s.knob + " = " + fmt(s.value)).join(", ") || "(no change)");
    cell(row, d.rationale);
    body.appendChild(row);
  }
}

function paintedPixels(chart) {
  const canvas = chart.canvas;
  if (!canvas.width || !canvas.height) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  // Count pixels with a saturated colour (series lines and points; axes and text are grey).
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2], a = data[i + 3];
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) painted++;
  }
  return painted;
}

function reportRender() {
  const out = { polls: state.polls, errors: state.errors.slice(-5), charts: {} };
  for (const [name, chart] of Object.entries(charts)) {
    out.charts[name] = {
      datasets: chart.data.datasets.length,
      points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0),
      painted_pixels: paintedPixels(chart),
    };
  }
  out.knob_rows = document.getElementById("knobs").children.length;
  out.decision_rows = document.getElementById("decisions").children.length;
  document.getElementById("render-check").textContent = JSON.stringify(out);
}

async function refresh() {
  try {
    const st = await getJson("/v1/status");
    showStatus(st);
    const latest = await getJson("/v1/observations");
    const now = latest.time !== null ? latest.time : 0;
    const power = latest.signals.filter(s => isPowerSignal(s.name)).map(s => s.name).slice(0, 16);
    const slo = latest.signals.filter(s => /slo_attainment_ratio$/.test(s.name)).map(s => s.name);
    const wanted = power.concat(slo);
    if (wanted.length) {
      const q = "/v1/observations?signal=" + encodeURIComponent(wanted.join(",")) +
                "&from=" + (now - WINDOW_S) + "&limit=" + WINDOW_S;
      const history = await getJson(q);
      const bySignal = s => ({ label: s.signal + (s.provenance === "estimated" ? " (estimated)" : ""),
                               points: s.points });
      setSeries(charts.power, history.series.filter(s => isPowerSignal(s.signal)).map(bySignal), now);
      setSeries(charts.slo, history.series.filter(s => /slo_attainment_ratio$/.test(s.signal)).map(bySignal), now);
    }
    showDecisions(await getJson("/v1/decisions?limit=10"));
    document.getElementById("error").style.display = "none";
  } catch (err) {
    state.errors.push(String(err.message || err));
    const box = document.getElementById("error");
    box.textContent = "Cannot refresh: " + (err.message || err) + " (retrying every " + POLL_MS / 1000 + " s)";
    box.style.display = "block";
  }
  state.polls++;
  requestAnimationFrame(reportRender);
}

refresh();
setInterval(refresh, POLL_MS);
)JS";

}  // namespace

std::string dashboard_html() {
    std::string html;
    html.reserve(assets::kChartJs.size() + kHead.size() + kScript.size() + 256);
    html += kHead;
    html += "<script>";
    html += inline_script(assets::kChartJs);
    html += "</script>\n<script>";
    html += inline_script(kScript);
    html += "</script>\n</body>\n</html>\n";
    return html;
}

}  // namespace joulepilot::serve
