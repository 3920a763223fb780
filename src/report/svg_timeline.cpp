#include "report/svg_timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/html.h"
#include "report/svg_chart.h"

namespace chimera::report {
namespace {

constexpr double kLeftPx = 170, kRightPx = 16, kTopPx = 44;
constexpr double kLaneHeightPx = 20, kBarHeightPx = 12;
constexpr double kPanelHeightPx = 110, kPanelGapPx = 34, kAxisPx = 30;
const char* kFailedColor = "#D55E00";
const char* kQueueColor = "#5b6673";

std::string px(double v) { return format_fixed(v, 1); }

struct Axis {
  double lo, hi, left, right;
  double map(double t) const {
    return hi == lo ? left : left + (t - lo) / (hi - lo) * (right - left);
  }
};

void time_ticks(const Axis& x, double top, double bottom, const Ticks& ticks, bool labels,
                std::string& out) {
  for (double v : ticks.values) {
    if (v < x.lo - 1e-9 || v > x.hi + 1e-9) continue;
    double xp = x.map(v);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e3e7eb\"/>\n",
                       px(xp), px(top), px(bottom));
    if (labels) {
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(xp),
                         px(bottom + 14), format_fixed(v, ticks.decimals));
    }
  }
}

void lanes(const TimelineSpec& spec, const Axis& x, std::string& out) {
  const auto& colors = series_colors();
  for (size_t i = 0; i < spec.lanes.size(); ++i) {
    const TimelineLane& lane = spec.lanes[i];
    double y = kTopPx + kLaneHeightPx * static_cast<double>(i);
    double bar_y = y + (kLaneHeightPx - kBarHeightPx) / 2;
    const std::string& color = colors[i % colors.size()];
    out += fmt::format("<g class=\"lane\" data-name=\"{}\">\n", html_escape(lane.name));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(kLeftPx - 6),
                       px(y + kLaneHeightPx / 2 + 4), html_escape(lane.name));
    for (const TimelineSpan& s : lane.spans) {
      double x0 = x.map(s.start_s), x1 = std::max(x.map(s.end_s), x0 + 1);
      std::string title = "<title>" + html_escape(s.label) + "</title>";
      if (s.failed) {
        out += fmt::format(
            "<g class=\"failed\"><rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" "
            "fill=\"{4}\" fill-opacity=\"0.35\" stroke=\"{4}\"/>"
            "<path d=\"M{5},{1} l8,{3} M{6},{1} l-8,{3}\" stroke=\"{4}\" stroke-width=\"2\"/>{7}"
            "</g>\n",
            px(x0), px(bar_y), px(x1 - x0), px(kBarHeightPx), kFailedColor, px(x1 - 4), px(x1 + 4),
            title);
        continue;
      }
      double xq = std::min(x1, x.map(s.start_s + std::max(0.0, s.queue_s)));
      double xf = std::isfinite(s.first_token_s) ? std::clamp(x.map(s.first_token_s), x0, x1) : x1;
      out += "<g class=\"call\">";
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.3\"/>",
          px(x0), px(bar_y), px(xf - x0), px(kBarHeightPx), color);
      if (xq > x0 + 0.05) {
        out += fmt::format(
            "<rect class=\"queue\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>",
            px(x0), px(bar_y + kBarHeightPx / 4), px(xq - x0), px(kBarHeightPx / 2), kQueueColor);
      }
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>", px(xf),
                         px(bar_y), px(std::max(0.0, x1 - xf)), px(kBarHeightPx), color);
      out += title + "</g>\n";
    }
    out += "</g>\n";
  }
}

void panel(const TimelinePanel& p, const Axis& x, double top, const Ticks& time, std::string& out) {
  double bottom = top + kPanelHeightPx;
  double hi = 0;
  for (const auto& l : p.lines) {
    for (double v : l.y) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
  }
  Ticks y_ticks = nice_ticks(0, hi > 0 ? hi : 1, 3);
  double y_hi = y_ticks.values.back();
  auto map_y = [&](double v) { return bottom - v / y_hi * (bottom - top); };
  out += fmt::format("<g class=\"panel\" data-name=\"{}\">\n", html_escape(p.y_label));
  for (double v : y_ticks.values) {
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\" stroke=\"#e3e7eb\"/>"
        "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
        px(x.left), px(x.right), px(map_y(v)), px(x.left - 6), px(map_y(v) + 4),
        format_fixed(v, y_ticks.decimals));
  }
  time_ticks(x, top, bottom, time, false, out);
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(x.left - 34),
                     px(top + kPanelHeightPx / 2), html_escape(p.y_label));
  const auto& colors = series_colors();
  double legend_x = x.left;
  for (size_t i = 0; i < p.lines.size(); ++i) {
    const auto& line = p.lines[i];
    const std::string& color = colors[(i + 2) % colors.size()];
    // A gauge holds its value until the next scrape: drawn as steps, never as a ramp between two
    // readings. A missing reading (NaN) ends the line there.
    std::string points;
    double previous_y = NAN;
    for (size_t k = 0; k < line.y.size() && k < line.t_s.size(); ++k) {
      if (!std::isfinite(line.y[k])) continue;
      std::string xk = px(x.map(line.t_s[k]));
      if (std::isfinite(previous_y)) points += ' ' + xk + "," + px(map_y(previous_y));
      if (!points.empty()) points += ' ';
      points += xk + "," + px(map_y(line.y[k]));
      previous_y = line.y[k];
    }
    out += fmt::format(
        "<polyline class=\"load\" data-name=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"1.5\" "
        "points=\"{}\"/>\n",
        html_escape(line.name), color, points);
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}"
        "</text>\n",
        px(legend_x), px(top - 8), color, px(legend_x + 14), px(top - 4), html_escape(line.name));
    legend_x += 24 + 6.5 * static_cast<double>(line.name.size());
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#5b6673\"/>\n",
                     px(x.left), px(bottom), px(x.right));
  out += "</g>\n";
}

}  // namespace

std::string render_svg_timeline(const TimelineSpec& spec) {
  double lo = INFINITY, hi = -INFINITY;
  auto extend = [&](double t) {
    if (std::isfinite(t)) lo = std::min(lo, t), hi = std::max(hi, t);
  };
  for (const auto& lane : spec.lanes) {
    for (const auto& s : lane.spans) extend(s.start_s), extend(s.end_s);
  }
  for (const auto& b : spec.bands) extend(b.start_s), extend(b.end_s);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  Ticks time = nice_ticks(lo, hi, 10);
  const double width = std::max(320, spec.width_px);
  const double lanes_bottom = kTopPx + kLaneHeightPx * static_cast<double>(spec.lanes.size());
  const double height = lanes_bottom + kAxisPx +
                        (kPanelHeightPx + kPanelGapPx) * static_cast<double>(spec.panels.size()) +
                        24;
  Axis x{std::min(lo, time.values.front()), std::max(hi, time.values.back()), kLeftPx,
         width - kRightPx};
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#1d232a\">\n",
      width, px(height));
  size_t calls = 0, failed = 0;
  for (const auto& lane : spec.lanes) {
    for (const auto& s : lane.spans) ++calls, failed += s.failed;
  }
  out += "<title>" + html_escape(spec.title) + "</title>\n";
  out +=
      fmt::format("<desc>{} lanes, {} calls, {} failed</desc>\n", spec.lanes.size(), calls, failed);
  out += fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", width, px(height));
  out += fmt::format(
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}"
      "</text>\n",
      px(width / 2), html_escape(spec.title));
  out += fmt::format(
      "<text x=\"{}\" y=\"34\">light: waiting for the first token; dark: generating; grey band: "
      "queued at the server; red \u00d7: failed; shaded: concurrent phases</text>\n",
      px(kLeftPx));
  for (const auto& b : spec.bands) {
    double x0 = x.map(b.start_s), x1 = x.map(b.end_s);
    out += fmt::format(
        "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f0e6c8\" "
        "fill-opacity=\"0.5\"><title>{}</title></rect>\n",
        px(x0), px(kTopPx), px(std::max(1.0, x1 - x0)), px(lanes_bottom - kTopPx),
        html_escape(b.label));
  }
  time_ticks(x, kTopPx, lanes_bottom, time, true, out);
  lanes(spec, x, out);
  out += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since the run started (s)"
      "</text>\n",
      px((x.left + x.right) / 2), px(lanes_bottom + kAxisPx));
  double top = lanes_bottom + kAxisPx + kPanelGapPx;
  for (const auto& p : spec.panels) {
    panel(p, x, top, time, out);
    top += kPanelHeightPx + kPanelGapPx;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace chimera::report
