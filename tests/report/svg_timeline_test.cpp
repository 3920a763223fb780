// The per-agent timeline SVG: well-formed, a lane per agent, a call's phases where its clocks put
// them, failed calls marked, the server's queue wait drawn, the load panels on the same axis.
#include "report/svg_timeline.h"

#include <gtest/gtest.h>

#include <cmath>

#include "report/xml_reader.h"

namespace chimera::report {
namespace {

using chimera::testing::XmlElement;
using chimera::testing::XmlReader;

TimelineSpec sample() {
  TimelineSpec spec;
  spec.title = "Every call of 2 agents";
  spec.width_px = 1000;  // lanes from x = 170 to 984: 814 px for the time axis
  TimelineSpan ok{0.0, 1.0, 4.0, 0.5, false, "call, repetition 1 (solo): 4000 ms"};
  TimelineSpan failed{5.0, NAN, 5.5, 0, true, "call, repetition 2 (concurrent): failed: refused"};
  spec.lanes = {{"agent1-data-collector", {ok}}, {"agent2-insight", {failed}}};
  spec.bands = {{4.5, 6.0, "repetition 2: concurrent phase"}};
  TimelinePanel requests{"requests", {{"running", {0, 2, 4}, {1, 2, NAN}}}};
  spec.panels = {requests};
  return spec;
}

std::unique_ptr<XmlElement> parse(const std::string& svg) {
  std::string error;
  auto root = XmlReader::parse(svg, error);
  EXPECT_TRUE(root) << error << "\n" << svg;
  return root;
}

double attr(const XmlElement* e, const char* name) { return std::stod(e->attributes.at(name)); }

TEST(SvgTimeline, LanesCallsAndFailuresAreWhereTheClocksSay) {
  std::string svg = render_svg_timeline(sample());
  auto root = parse(svg);
  ASSERT_TRUE(root);
  EXPECT_EQ(root->name, "svg");
  std::vector<const XmlElement*> lanes;
  for (const auto* g : root->all("g")) {
    if (g->attributes.count("class") && g->attributes.at("class") == "lane") lanes.push_back(g);
  }
  ASSERT_EQ(lanes.size(), 2u);
  EXPECT_EQ(lanes[0]->attributes.at("data-name"), "agent1-data-collector");
  // Time axis: ticks 0..6 s over x 170..984 (136 px/s... nice ticks of [0, 6] are 0, 1, ... 6).
  const double px_per_s = (1000 - 16 - 170) / 6.0;
  std::vector<const XmlElement*> rects = lanes[0]->all("rect");
  ASSERT_GE(rects.size(), 3u);                                // waiting, queue, generating
  EXPECT_NEAR(attr(rects[0], "x"), 170, 0.1);                 // sent at 0 s
  EXPECT_NEAR(attr(rects[0], "width"), 1.0 * px_per_s, 0.2);  // first token at 1 s
  EXPECT_EQ(rects[1]->attributes.at("class"), "queue");
  EXPECT_NEAR(attr(rects[1], "width"), 0.5 * px_per_s, 0.2);  // queued 0.5 s
  EXPECT_NEAR(attr(rects[2], "x"), 170 + px_per_s, 0.2);      // generating from 1 s
  EXPECT_NEAR(attr(rects[2], "width"), 3.0 * px_per_s, 0.2);  // to 4 s
  // The failed call is a failure (red, a cross), with its error in the tooltip.
  std::vector<const XmlElement*> failed;
  for (const auto* g : lanes[1]->all("g")) {
    if (g->attributes.count("class") && g->attributes.at("class") == "failed") failed.push_back(g);
  }
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0]->all("title")[0]->text.find("failed: refused"), std::string::npos);
  EXPECT_NE(root->all("desc")[0]->text.find("2 calls, 1 failed"), std::string::npos);
}

TEST(SvgTimeline, BandsAndLoadPanelsShareTheTimeAxis) {
  std::string svg = render_svg_timeline(sample());
  auto root = parse(svg);
  ASSERT_TRUE(root);
  const double px_per_s = (1000 - 16 - 170) / 6.0;
  const XmlElement* band = nullptr;
  for (const auto* r : root->all("rect")) {
    if (r->attributes.count("class") && r->attributes.at("class") == "band") band = r;
  }
  ASSERT_NE(band, nullptr);
  EXPECT_NEAR(attr(band, "x"), 170 + 4.5 * px_per_s, 0.2);
  const XmlElement* line = nullptr;
  for (const auto* p : root->all("polyline")) {
    if (p->attributes.at("data-name") == "running") line = p;
  }
  ASSERT_NE(line, nullptr);
  // Readings 1 at t = 0 and 2 at t = 2 s, drawn as a step (the value holds until the next
  // reading); the NaN at t = 4 s is a missing reading, never a zero.
  std::string points = line->attributes.at("points");
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 3) << points;
  EXPECT_EQ(points.substr(0, points.find(',')), "170.0");
  std::vector<std::string> xy;
  for (size_t at = 0; at != std::string::npos;) {
    size_t next = points.find(' ', at);
    xy.push_back(points.substr(at, next == std::string::npos ? next : next - at));
    at = next == std::string::npos ? next : next + 1;
  }
  ASSERT_EQ(xy.size(), 3u);
  EXPECT_EQ(xy[0].substr(xy[0].find(',')), xy[1].substr(xy[1].find(',')));        // held at 1 ...
  EXPECT_EQ(xy[1].substr(0, xy[1].find(',')), xy[2].substr(0, xy[2].find(',')));  // ... until 2 s
}

TEST(SvgTimeline, IsDeterministicAndEscapesNames) {
  TimelineSpec spec = sample();
  spec.lanes[0].name = "<agent & co>";
  EXPECT_EQ(render_svg_timeline(spec), render_svg_timeline(spec));
  auto root = parse(render_svg_timeline(spec));
  EXPECT_TRUE(root);
}

TEST(SvgTimeline, EmptyTimelineIsStillADocument) {
  auto root = parse(render_svg_timeline(TimelineSpec{}));
  EXPECT_TRUE(root);
}

}  // namespace
}  // namespace chimera::report
