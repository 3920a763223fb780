#include "report/html.h"

#include <gtest/gtest.h>

#include <regex>

#include "report/svg_chart.h"

namespace chimera::report {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MarkdownToHtml, HeadingsGetStableUniqueIds) {
  std::string html = markdown_to_html(
      "# Executive Summary\n\n## Key Findings ##\n\n## Key Findings\n", "chimera-");
  EXPECT_TRUE(contains(html, "<h1 id=\"chimera-executive-summary\">Executive Summary</h1>"))
      << html;
  EXPECT_TRUE(contains(html, "<h2 id=\"chimera-key-findings\">Key Findings</h2>")) << html;
  EXPECT_TRUE(contains(html, "<h2 id=\"chimera-key-findings-2\">Key Findings</h2>")) << html;
}

TEST(MarkdownToHtml, PipeTableWithAlignment) {
  std::string html = markdown_to_html(
      "| metric | value |\n|:--|--:|\n| decode tok/s | 98.9 |\n| TTFT \\| p50 | 1,606 ms |\n");
  EXPECT_TRUE(contains(html, "<th style=\"text-align:left\">metric</th>")) << html;
  EXPECT_TRUE(contains(html, "<td style=\"text-align:right\">98.9</td>")) << html;
  EXPECT_TRUE(contains(html, "<td style=\"text-align:left\">TTFT | p50</td>")) << html;
  // One header row and two body rows: the escaped pipe did not split a cell.
  size_t rows = 0;
  for (size_t p = html.find("<tr>"); p != std::string::npos; p = html.find("<tr>", p + 1)) ++rows;
  EXPECT_EQ(rows, 3u) << html;
  EXPECT_FALSE(contains(html, "<td style=\"text-align:right\"> p50")) << html;
}

TEST(MarkdownToHtml, NestedListsAsTheModelWritesThem) {
  std::string html = markdown_to_html(
      "*   **Model:** gemma3\n*   **Sampling:**\n    *   Temperature: 0.4\n    *   Top-k: 40\n"
      "1. first\n2. second\n");
  EXPECT_TRUE(contains(html, "<li><strong>Model:</strong> gemma3</li>")) << html;
  EXPECT_TRUE(contains(html, "<ul>\n<li>Temperature: 0.4</li>\n<li>Top-k: 40</li>\n</ul>")) << html;
  EXPECT_TRUE(contains(html, "<ol>\n<li>first</li>\n<li>second</li>\n</ol>")) << html;
}

TEST(MarkdownToHtml, SnakeCaseNamesAreNotItalic) {
  std::string html = markdown_to_html("num_ctx and num_predict and tokens_per_s, but _this_ is.");
  EXPECT_TRUE(contains(html, "num_ctx and num_predict and tokens_per_s")) << html;
  EXPECT_TRUE(contains(html, "<em>this</em>")) << html;
  EXPECT_FALSE(contains(markdown_to_html("2 * 3 * 4"), "<em>"));
}

TEST(MarkdownToHtml, RawHtmlFromTheModelIsEscaped) {
  std::string html = markdown_to_html("<script>alert(1)</script> and <img src=x onerror=y>");
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_FALSE(contains(html, "<img"));
  EXPECT_TRUE(contains(html, "&lt;script&gt;"));
}

TEST(MarkdownToHtml, LinksAndImagesNeverPointOutside) {
  std::string html = markdown_to_html(
      "See [the docs](https://example.com/x) and ![chart](http://example.com/c.png) and "
      "[below](#appendix).");
  EXPECT_FALSE(contains(html, "href=\"http"));
  EXPECT_FALSE(contains(html, "src="));
  EXPECT_TRUE(contains(html, "the docs <span class=\"url\">(https://example.com/x)</span>"))
      << html;
  EXPECT_TRUE(contains(html, "[image: chart]")) << html;
  EXPECT_TRUE(contains(html, "<a href=\"#appendix\">below</a>")) << html;
}

TEST(MarkdownToHtml, CodeIsEscapedVerbatim) {
  std::string html = markdown_to_html("```toml\n[options]\nnum_ctx = <4096>\n```\nuse `a<b`\n");
  EXPECT_TRUE(contains(html, "<pre><code>[options]\nnum_ctx = &lt;4096&gt;\n</code></pre>"))
      << html;
  EXPECT_TRUE(contains(html, "<code>a&lt;b</code>")) << html;
}

TEST(MarkdownToHtml, ParagraphsRulesQuotesAndHardBreaks) {
  std::string html =
      markdown_to_html("**Date:** 2026-11-26  \n**Model:** gemma3\n\n---\n\n> note\n> more\n");
  EXPECT_TRUE(contains(
      html, "<p><strong>Date:</strong> 2026-11-26<br>\n<strong>Model:</strong> gemma3</p>"))
      << html;
  EXPECT_TRUE(contains(html, "<hr>")) << html;
  EXPECT_TRUE(contains(html, "<blockquote>\n<p>note\nmore</p>\n</blockquote>")) << html;
}

TEST(HtmlPage, IsSelfContained) {
  HtmlPage page("Chimera run <2026-11-26>");
  page.set_subtitle("baseline vs chimera");
  ChartSpec chart;
  chart.title = "TTFT";
  chart.series = {{"baseline", {}, {120, 130}}, {"chimera", {}, {110, 100}}};
  page.add_section({"charts", "Charts", "<figure>" + render_svg_chart(chart) + "</figure>"});
  page.add_section({"baseline", "Baseline report",
                    markdown_to_html("# Report\n\n[x](https://example.com)", "baseline-")});
  std::string html = page.render();

  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(html, "<title>Chimera run &lt;2026-11-26&gt;</title>"));
  EXPECT_TRUE(contains(html, "<style>"));
  EXPECT_TRUE(contains(html, "<a href=\"#charts\">Charts</a>"));
  EXPECT_TRUE(contains(html, "<section id=\"baseline\">"));
  EXPECT_TRUE(contains(html, "<svg "));
  // Nothing that a browser would fetch or run.
  for (const char* banned : {"<script", "<link", "<iframe", "<img", "src=", "@import", "url("}) {
    EXPECT_FALSE(contains(html, banned)) << banned;
  }
  std::regex external_href("href=\"[^#]");
  EXPECT_FALSE(std::regex_search(html, external_href));
}

}  // namespace
}  // namespace chimera::report
