// A timeline as deterministic SVG text: one lane per agent, one bar per call (waiting for the first
// token light, generating dark, the server's queue wait as a grey band at its start, a failed call
// red with a cross), shaded time ranges (the concurrent phases), and below it panels of server load
// on the same time axis (requests running and waiting, KV-cache use) scraped from /metrics.
#pragma once

#include <string>
#include <vector>

namespace chimera::report {

struct TimelineSpan {
  double start_s = 0;
  double first_token_s = 0;  // NaN: no token arrived
  double end_s = 0;
  double queue_s = 0;  // the server's queue wait at the start (0: none or unknown)
  bool failed = false;
  std::string label;  // the tooltip: "analysis, repetition 2 (concurrent): 812 ms"
};

struct TimelineLane {
  std::string name;
  std::vector<TimelineSpan> spans;
};

struct TimelineBand {
  double start_s = 0, end_s = 0;
  std::string label;  // "concurrent"
};

// One panel of lines under the lanes, sharing their time axis.
struct TimelinePanel {
  std::string y_label;  // "requests", "KV cache %"
  struct Line {
    std::string name;
    std::vector<double> t_s, y;
  };
  std::vector<Line> lines;
};

struct TimelineSpec {
  std::string title;
  std::vector<TimelineLane> lanes;
  std::vector<TimelineBand> bands;
  std::vector<TimelinePanel> panels;
  int width_px = 960;
};

std::string render_svg_timeline(const TimelineSpec& spec);

}  // namespace chimera::report
