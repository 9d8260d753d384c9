#pragma once
// The dashboard served at GET /: one self-contained HTML page (Chart.js inlined from jp_assets, no
// network beyond the agent itself) that polls /v1/status, /v1/observations and /v1/decisions and shows
// live power per domain, energy per token, SLO attainment, knob settings and the latest decisions with
// their rationale. After every refresh the page writes what it drew into <pre id="render-check">
// (painted pixels per chart canvas, points per chart, errors), which the headless-browser test reads.
// Pure function; thread-safe.

#include <string>

namespace joulepilot::serve {

std::string dashboard_html();

}  // namespace joulepilot::serve
