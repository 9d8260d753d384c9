#include "cli/report_html.hpp"

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace joulepilot::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kDataOpen = "<script type=\"application/json\" id=\"jp-data\">";

twin::RunSummary fake_run(const std::string& policy, double scale) {
    twin::RunSummary run;
    run.scenario = "default";
    run.policy = policy;
    run.zone = "US-CAL-CISO";
    run.gpus = 8;
    run.simulated_s = 6 * 3600;
    run.requests = 12000;
    run.completed = 11990;
    run.output_tokens = 3'000'000;
    run.it_energy_j = 150e6 * scale;
    run.facility_energy_j = run.it_energy_j * 1.2;
    run.energy_per_token_j = run.facility_energy_j / static_cast<double>(run.output_tokens);
    run.p99_ttft_s = 0.8 / scale;
    run.p99_tpot_s = 0.05 / scale;
    run.slo_attainment = 0.99 - 0.01 * (1 - scale);
    run.throughput_tokens_per_s = 3'000'000 / run.simulated_s;
    run.carbon_g = 9000 * scale;
    run.cost_usd = 8.5 * scale;
    run.mean_pue = 1.2;
    for (int i = 0; i < 72; ++i) {
        twin::TimelinePoint p;
        p.t_s = i * 300.0;
        p.arrivals_rps = 0.5 + 0.3 * std::sin(i / 10.0);
        p.fleet_power_w = 4000 * scale + 500 * std::sin(i / 10.0);
        p.active_replicas = 8 * scale;
        p.mean_sm_clock_mhz = 1980 * scale;
        p.mean_power_limit_w = 700 * scale;
        p.mean_batch_cap = 64;
        p.slo_attainment = i == 5 ? NAN : 0.99;  // a NaN must not break the data block
        run.timeline.push_back(p);
    }
    return run;
}

std::size_t count(const std::string& text, std::string_view needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size()))
        ++n;
    return n;
}

nlohmann::json data_block(const std::string& html) {
    const auto start = html.find(kDataOpen);
    EXPECT_NE(start, std::string::npos);
    const auto begin = start + kDataOpen.size();
    const auto end = html.find("</script>", begin);
    EXPECT_NE(end, std::string::npos);
    return nlohmann::json::parse(html.substr(begin, end - begin));  // throws (fails the test) when invalid
}

TEST(ReportHtml, HasChartJsChartsAndPolicies) {
    const std::string html = render_report_html({fake_run("static", 1.0), fake_run("mpc", 0.8)}, "Twin run");
    ASSERT_FALSE(assets::kChartJs.empty());
    EXPECT_THAT(html, HasSubstr(std::string(assets::kChartJs.substr(0, 200))));
    EXPECT_THAT(html, HasSubstr(std::string(assets::kChartJs.substr(assets::kChartJs.size() - 200))));
    EXPECT_THAT(html, Not(HasSubstr("src=\"http")));  // nothing fetched: the page opens offline
    EXPECT_THAT(html, HasSubstr("<title>Twin run</title>"));
    EXPECT_THAT(html, HasSubstr(">static <span class=\"badge\">baseline</span>"));
    EXPECT_THAT(html, HasSubstr(">mpc</td>"));

    const nlohmann::json data = data_block(html);
    ASSERT_EQ(data["charts"].size(), 7U);
    EXPECT_EQ(count(html, "<canvas "), data["charts"].size());
    for (const auto& chart : data["charts"]) {
        EXPECT_EQ(count(html, "<canvas id=\"chart-" + chart["id"].get<std::string>() + "\""), 1U)
            << chart["id"];
    }
    ASSERT_EQ(data["runs"].size(), 2U);
    EXPECT_EQ(data["runs"][0]["policy"], "static");
    EXPECT_EQ(data["runs"][1]["policy"], "mpc");
    EXPECT_EQ(data["runs"][1]["t_h"].size(), 72U);
    EXPECT_DOUBLE_EQ(data["runs"][1]["t_h"][12].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(data["runs"][1]["series"]["power"][0].get<double>(), 3200.0);
    EXPECT_DOUBLE_EQ(data["runs"][0]["series"]["slo"][0].get<double>(), 99.0);  // percent
    EXPECT_TRUE(data["runs"][0]["series"]["slo"][5].is_null());                 // NaN -> gap
}

TEST(ReportHtml, HeadlineNumbersAndRatiosToStatic) {
    const std::string html = render_report_html({fake_run("static", 1.0), fake_run("mpc", 0.8)}, "Twin run");
    EXPECT_THAT(html, HasSubstr("<td>41.67"));  // IT energy 150 MJ = 41.67 kWh
    EXPECT_THAT(html, HasSubstr("<td>50.00"));  // facility energy 180 MJ = 50 kWh
    EXPECT_THAT(html, HasSubstr("<td>9,000"));  // carbon, g
    EXPECT_THAT(html, HasSubstr("<td>8.50"));   // cost, USD
    EXPECT_THAT(html, HasSubstr("<td>99.00"));  // SLO attainment, %
    EXPECT_THAT(html, HasSubstr("0.80\u00d7 static"));
    EXPECT_THAT(html, HasSubstr("<span class=\"cmp better\">0.80"));  // less energy is better
    EXPECT_THAT(html, HasSubstr("<span class=\"cmp worse\">1.25"));   // longer TTFT is worse
    EXPECT_THAT(html, HasSubstr("-0.20 pp vs static"));
    // Without a static run there is nothing to compare with.
    EXPECT_THAT(render_report_html({fake_run("mpc", 0.8)}, "t"), Not(HasSubstr("vs static")));
}

TEST(ReportHtml, FooterNamesSourcesAndTheEstimate) {
    const std::string html = render_report_html({fake_run("static", 1.0)}, "t");
    EXPECT_THAT(html,
                HasSubstr("Grid carbon intensity: Electricity Maps (electricitymaps.com), ODbL; weather: "
                          "Open-Meteo.com, CC-BY-4.0; load: ServeGen (Apache-2.0) / Azure LLM inference "
                          "trace 2023 (CC-BY-4.0)"));
    EXPECT_THAT(html, HasSubstr("PUE is a stated model"));
    EXPECT_THAT(html, HasSubstr("estimate"));
}

TEST(ReportHtml, HostileNamesAreEscaped) {
    const std::string evil = "</script><script>alert(1)</script>";
    const std::string html = render_report_html({fake_run(evil, 1.0), fake_run("static", 1.0)}, "<b>" + evil);
    // The page's own script elements: the data block, Chart.js, the chart builder. No fourth one.
    EXPECT_EQ(count(html, "<script"), 3U);
    EXPECT_EQ(count(html, "</script>"), 3U);
    EXPECT_THAT(html, Not(HasSubstr("alert(1)</script>")));
    EXPECT_THAT(html, HasSubstr("&lt;/script&gt;&lt;script&gt;alert(1)"));
    EXPECT_THAT(html, HasSubstr("<title>&lt;b&gt;&lt;/script&gt;"));
    // The name survives intact for the chart legend.
    const nlohmann::json data = data_block(html);
    EXPECT_EQ(data["runs"][0]["policy"], evil);
    EXPECT_EQ(data["title"], "<b>" + evil);
}

TEST(ReportHtml, InvalidUtf8AndEmptyInput) {
    const std::string html = render_report_html({fake_run("bad\xff name", 1.0)}, "t");
    EXPECT_EQ(data_block(html)["runs"][0]["policy"], "bad\xef\xbf\xbd name");  // U+FFFD
    const std::string empty = render_report_html({}, "nothing");
    EXPECT_THAT(empty, HasSubstr("No runs"));
    EXPECT_EQ(data_block(empty)["runs"].size(), 0U);
}

TEST(ReportHtml, Escapers) {
    EXPECT_EQ(escape_html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    EXPECT_EQ(escape_inline_script("x = '</script>'; y = '</SCRIPT '; z = '<scr' + 'ipt'"),
              "x = '<\\/script>'; y = '<\\/SCRIPT '; z = '<scr' + 'ipt'");
    EXPECT_EQ(escape_inline_script("</scrip"), "</scrip");
    EXPECT_EQ(escape_inline_script(""), "");
}

}  // namespace
}  // namespace joulepilot::cli
