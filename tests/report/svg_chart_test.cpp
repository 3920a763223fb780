#include "report/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "report/xml_reader.h"

namespace chimera::report {
namespace {

using chimera::testing::XmlElement;
using chimera::testing::XmlReader;

std::unique_ptr<XmlElement> parse_or_fail(const std::string& svg) {
  std::string error;
  auto root = XmlReader::parse(svg, error);
  EXPECT_NE(root, nullptr) << error << "\n" << svg;
  return root;
}

double attr(const XmlElement* e, const std::string& name) {
  return std::stod(e->attributes.at(name));
}

ChartSpec two_arms(ChartKind kind) {
  ChartSpec spec;
  spec.kind = kind;
  spec.title = "Decode throughput per call";
  spec.x_label = "call";
  spec.y_label = "decode tok/s";
  spec.series = {{"baseline", {}, {95.5, 97.25, 96.0}}, {"chimera", {}, {98.94, 101.5, 99.0}}};
  return spec;
}

TEST(NiceTicks, CoverTheRangeWithRoundSteps) {
  Ticks t = nice_ticks(0, 98.94, 5);
  ASSERT_FALSE(t.values.empty());
  EXPECT_DOUBLE_EQ(t.step, 20);
  EXPECT_DOUBLE_EQ(t.values.front(), 0);
  EXPECT_DOUBLE_EQ(t.values.back(), 100);
  EXPECT_EQ(t.decimals, 0);

  Ticks small = nice_ticks(0.11, 0.139, 5);
  EXPECT_NEAR(small.step, 0.005, 1e-12);
  EXPECT_LE(small.values.front(), 0.11);
  EXPECT_GE(small.values.back(), 0.139);
  EXPECT_EQ(small.decimals, 3);
}

TEST(NiceTicks, ADegenerateRangeStillGetsAnAxis) {
  Ticks t = nice_ticks(5, 5, 5);
  ASSERT_GE(t.values.size(), 2u);
  EXPECT_LT(t.values.front(), 5);
  EXPECT_GT(t.values.back(), 5);
}

TEST(FormatFixed, NeverPrintsNegativeZero) {
  EXPECT_EQ(format_fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(format_fixed(98.944, 1), "98.9");
  EXPECT_EQ(format_fixed(1606, 0), "1606");
}

TEST(SvgChart, LineChartIsWellFormedAndDrawsEveryPoint) {
  std::string svg = render_svg_chart(two_arms(ChartKind::kLine));
  auto root = parse_or_fail(svg);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->attributes.at("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_EQ(root->all("circle").size(), 6u);
  EXPECT_EQ(root->all("polyline").size(), 2u);

  // The legend names both arms.
  std::string texts;
  for (const auto* t : root->all("text")) texts += t->text + "|";
  EXPECT_NE(texts.find("baseline"), std::string::npos);
  EXPECT_NE(texts.find("chimera"), std::string::npos);
  EXPECT_NE(texts.find("decode tok/s"), std::string::npos);
  // The values are stated in the description for readers without a mouse.
  EXPECT_NE(root->all("desc")[0]->text.find("98.94"), std::string::npos);
}

TEST(SvgChart, HigherValuesAreDrawnHigherAndInsideTheCanvas) {
  ChartSpec spec = two_arms(ChartKind::kScatter);
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  auto circles = root->all("circle");
  ASSERT_EQ(circles.size(), 6u);
  for (const auto* c : circles) {
    EXPECT_GT(attr(c, "cx"), 0);
    EXPECT_LT(attr(c, "cx"), spec.width_px);
    EXPECT_GT(attr(c, "cy"), 0);
    EXPECT_LT(attr(c, "cy"), spec.height_px);
  }
  // baseline call 1 (95.5) sits lower on screen (larger y) than chimera call 2 (101.5).
  EXPECT_GT(attr(circles[0], "cy"), attr(circles[4], "cy"));
  // Call 1 is left of call 3.
  EXPECT_LT(attr(circles[0], "cx"), attr(circles[2], "cx"));
  EXPECT_EQ(root->all("polyline").size(), 0u);
}

TEST(SvgChart, AFailedCallIsAGapNotAZero) {
  ChartSpec spec = two_arms(ChartKind::kLine);
  spec.series[0].y = {95.5, NAN, 96.0, 97.0};
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  // Baseline: points 1 and 3-4 -> only the 3-4 run is a line; chimera: one line.
  EXPECT_EQ(root->all("polyline").size(), 2u);
  EXPECT_EQ(root->all("circle").size(), 6u);
  EXPECT_NE(root->all("desc")[0]->text.find("failed"), std::string::npos);
}

TEST(SvgChart, BarChartGroupsBarsPerCall) {
  ChartSpec spec = two_arms(ChartKind::kBar);
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  std::vector<const XmlElement*> bars;
  for (const auto* g : root->all("g")) {
    if (g->attributes.count("data-name")) {
      for (const auto& child : g->children) {
        if (child->name == "rect") bars.push_back(child.get());
      }
    }
  }
  ASSERT_EQ(bars.size(), 6u);
  // Bars start at zero: every bar's bottom edge is on the same baseline.
  double base = attr(bars[0], "y") + attr(bars[0], "height");
  for (const auto* b : bars) EXPECT_NEAR(attr(b, "y") + attr(b, "height"), base, 0.11);
  // The taller value has the taller bar.
  EXPECT_GT(attr(bars[4], "height"), attr(bars[0], "height"));
}

TEST(SvgChart, TextIsEscaped) {
  ChartSpec spec = two_arms(ChartKind::kLine);
  spec.title = "TTFT <p50> & \"p99\"";
  spec.series[0].name = "a<b";
  std::string svg = render_svg_chart(spec);
  auto root = parse_or_fail(svg);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->all("title")[0]->text, "TTFT <p50> & \"p99\"");
  EXPECT_EQ(svg.find("<p50>"), std::string::npos);
}

TEST(SvgChart, OutputIsDeterministic) {
  EXPECT_EQ(render_svg_chart(two_arms(ChartKind::kLine)),
            render_svg_chart(two_arms(ChartKind::kLine)));
}

TEST(SvgChart, NoDataStillRendersAValidDocument) {
  ChartSpec spec;
  spec.title = "empty";
  spec.series = {{"baseline", {}, {}}, {"chimera", {}, {NAN}}};
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  bool said_no_data = false;
  for (const auto* t : root->all("text")) said_no_data |= t->text == "no data";
  EXPECT_TRUE(said_no_data);
}

TEST(SvgChart, ExplicitXValuesForTimeSeries) {
  ChartSpec spec;
  spec.title = "CPU load";
  spec.x_label = "s";
  spec.y_label = "CPU %";
  spec.series = {{"cpu", {0.0, 0.5, 1.0, 1.5}, {10, 80, 95, 40}}};
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  auto circles = root->all("circle");
  ASSERT_EQ(circles.size(), 4u);
  EXPECT_LT(attr(circles[0], "cx"), attr(circles[3], "cx"));
  EXPECT_LT(attr(circles[2], "cy"), attr(circles[0], "cy"));
}

TEST(IntervalChart, DrawsEachMeanWithItsErrorBarInItsCategory) {
  ChartSpec spec;
  spec.kind = ChartKind::kInterval;
  spec.title = "Decode throughput: mean and 95% CI";
  spec.y_label = "decode tok/s";
  spec.categories = {"analysis calls", "report calls"};
  ChartSeries baseline{"baseline", {}, {50, 60}};
  baseline.lower = {45, 58};
  baseline.upper = {55, 62};
  ChartSeries chimera{"chimera", {}, {52, NAN}};  // no report calls succeeded: no point
  chimera.lower = {40, NAN};
  chimera.upper = {64, NAN};
  spec.series = {baseline, chimera};
  auto root = parse_or_fail(render_svg_chart(spec));
  ASSERT_NE(root, nullptr);
  std::vector<const XmlElement*> groups;
  for (const XmlElement* g : root->all("g")) {
    if (g->attributes.count("data-name")) groups.push_back(g);
  }
  ASSERT_EQ(groups.size(), 2u);
  // baseline: two dots, each with a bar (3 lines: stem and two caps); chimera: one dot, one bar.
  EXPECT_EQ(groups[0]->all("circle").size(), 2u);
  EXPECT_EQ(groups[0]->all("line").size(), 6u);
  EXPECT_EQ(groups[1]->all("circle").size(), 1u);
  EXPECT_EQ(groups[1]->all("line").size(), 3u);
  // The bar spans lower to upper: its stem's ends sit above and below the dot.
  const XmlElement* dot = groups[1]->all("circle")[0];
  const XmlElement* stem = groups[1]->all("line")[0];
  EXPECT_DOUBLE_EQ(attr(stem, "x1"), attr(dot, "cx"));
  EXPECT_GT(attr(stem, "y1"), attr(dot, "cy"));  // lower bound: further down the page
  EXPECT_LT(attr(stem, "y2"), attr(dot, "cy"));
  // The axis covers the widest bound (64), and the categories label the x axis.
  std::string svg = render_svg_chart(spec);
  EXPECT_NE(svg.find(">report calls<"), std::string::npos);
  EXPECT_NE(svg.find("chimera analysis calls: 52.00 (40.00 to 64.00)"), std::string::npos) << svg;
  double top_tick = 0;
  for (const XmlElement* t : root->all("text")) {
    if (t->attributes.count("text-anchor") && t->attributes.at("text-anchor") == "end") {
      top_tick = std::max(top_tick, std::stod(t->text));
    }
  }
  EXPECT_GE(top_tick, 64);
}

}  // namespace
}  // namespace chimera::report
