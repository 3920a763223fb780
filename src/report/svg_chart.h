// SVG charts as deterministic text: a chart model (series of per-call values for one or more arms)
// rendered to a standalone, well-formed SVG document with axes, "nice" ticks and a legend. No
// dependencies, no scripts, no external references: the same SVG is inlined in report.html.
#pragma once

#include <string>
#include <vector>

namespace chimera::report {

enum class ChartKind {
  kLine,     // points joined in x order; a missing value (NaN) breaks the line
  kBar,      // grouped bars: one group per x value, one bar per series
  kScatter,  // points only
  // Means with confidence intervals: categories on x (ChartSpec::categories), one or more series,
  // each point a mean (y) with its lower / upper bound drawn as an error bar (NaN: no bar).
  kInterval,
};

struct ChartSeries {
  std::string name;       // legend text: "baseline", "chimera"
  std::vector<double> x;  // empty: 1, 2, 3, ... (call index)
  std::vector<double> y;  // NaN marks a missing value (a failed call), drawn as a gap
  // kInterval only, parallel to y: the interval's bounds (NaN or absent: no bar).
  std::vector<double> lower = {}, upper = {};
};

struct ChartSpec {
  ChartKind kind = ChartKind::kLine;
  std::string title;
  std::string x_label;
  std::string y_label;  // with its unit: "decode tok/s"
  std::vector<ChartSeries> series;
  int width_px = 640;
  int height_px = 320;
  bool y_from_zero = true;  // throughput and latency axes start at zero so bars are not misleading
  // kInterval: the category labels; a series' i-th point (x empty) or x = i belongs to category i.
  std::vector<std::string> categories;
};

// Axis ticks at 1/2/5 x 10^k steps covering [lo, hi]; `decimals` is what the labels need.
struct Ticks {
  std::vector<double> values;
  double step = 1;
  int decimals = 0;
};
Ticks nice_ticks(double lo, double hi, int target_count = 5);

// Fixed decimals, "-0" printed as "0", so output never depends on the locale or on noise.
std::string format_fixed(double value, int decimals);

// The fixed palette, in series order; colour-blind safe (Okabe-Ito).
const std::vector<std::string>& series_colors();

// A standalone SVG document (with the SVG namespace, a <title> and <desc>).
std::string render_svg_chart(const ChartSpec& spec);

}  // namespace chimera::report
