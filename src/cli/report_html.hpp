#pragma once
// The self-contained HTML report of a twin run: a table of the headline numbers per policy (with ratios
// to the `static` baseline when it ran) and line charts over the run (offered load, fleet power, knob
// settings, SLO attainment per interval), one dataset per policy. Chart.js is inlined from the binary
// (jp_assets) and the data go in as a JSON block, so the page opens offline and from a file:// URL.
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "twin/run_summary.hpp"

namespace joulepilot::assets {
// Chart.js (MIT), generated into jp_assets from Debian's libjs-chart.js.
extern const std::string_view kChartJs;
}  // namespace joulepilot::assets

namespace joulepilot::cli {

std::string render_report_html(const std::vector<twin::RunSummary>& runs, const std::string& title);

// Text for HTML element content and attribute values: & < > " ' become character references.
std::string escape_html(std::string_view text);
// Text placed inside <script>...</script>: every "</script" (any case) becomes "<\/script", which a
// script reads the same inside a string or regular expression but which cannot end the element.
std::string escape_inline_script(std::string_view code);

}  // namespace joulepilot::cli
