#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "report/html.h"

namespace chimera::report {
namespace {

constexpr double kLeftPx = 64, kRightPx = 16, kTopPx = 56, kBottomPx = 48;
constexpr double kCharWidthPx = 6.5;  // approximate width of an 11 px sans-serif character

std::string px(double v) { return format_fixed(v, 1); }

struct Layout {
  double left, right, top, bottom;
  double x_lo, x_hi, y_lo, y_hi;
  double map_x(double x) const {
    return x_hi == x_lo ? (left + right) / 2 : left + (x - x_lo) / (x_hi - x_lo) * (right - left);
  }
  double map_y(double y) const {
    return y_hi == y_lo ? (top + bottom) / 2 : bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top);
  }
};

double x_at(const ChartSeries& s, size_t i) {
  return s.x.empty() ? static_cast<double>(i + 1) : (i < s.x.size() ? s.x[i] : NAN);
}

bool all_integral(const std::vector<double>& values) {
  return std::all_of(values.begin(), values.end(),
                     [](double v) { return std::isfinite(v) && v == std::floor(v); });
}

void legend(const ChartSpec& spec, std::string& out) {
  double x = kLeftPx;
  const auto& colors = series_colors();
  out += "<g class=\"legend\">\n";
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const std::string& color = colors[i % colors.size()];
    out += fmt::format("<rect x=\"{}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{}\"/>", px(x),
                       color);
    out += fmt::format("<text x=\"{}\" y=\"40\">{}</text>\n", px(x + 16),
                       html_escape(spec.series[i].name));
    x += 28 + kCharWidthPx * static_cast<double>(spec.series[i].name.size());
  }
  out += "</g>\n";
}

void y_axis(const Layout& l, const Ticks& ticks, std::string& out) {
  out += "<g class=\"y-axis\">\n";
  for (double v : ticks.values) {
    double y = l.map_y(v);
    out += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e3e7eb\"/>"
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
        px(l.left), px(y), px(l.right), px(y), px(l.left - 6), px(y + 4),
        format_fixed(v, ticks.decimals));
  }
  out += "</g>\n";
}

void x_tick(const Layout& l, double x, const std::string& label, std::string& out) {
  out += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#5b6673\"/>"
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
      px(x), px(l.bottom), px(x), px(l.bottom + 4), px(x), px(l.bottom + 16), label);
}

void draw_points(const ChartSpec& spec, const Layout& l, int value_decimals, std::string& out) {
  const auto& colors = series_colors();
  for (size_t s = 0; s < spec.series.size(); ++s) {
    const ChartSeries& series = spec.series[s];
    const std::string& color = colors[s % colors.size()];
    out += fmt::format("<g class=\"series\" data-name=\"{}\" fill=\"{}\" stroke=\"{}\">\n",
                       html_escape(series.name), color, color);
    std::vector<std::pair<double, double>> points;  // sorted by x for the line
    for (size_t i = 0; i < series.y.size(); ++i) points.emplace_back(x_at(series, i), series.y[i]);
    std::stable_sort(points.begin(), points.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    if (spec.kind == ChartKind::kLine) {
      std::string run;
      int run_points = 0;
      auto flush = [&] {
        if (run_points >= 2) {
          out += "<polyline fill=\"none\" stroke-width=\"2\" points=\"" + run + "\"/>\n";
        }
        run.clear();
        run_points = 0;
      };
      for (const auto& [x, y] : points) {
        if (!std::isfinite(x) || !std::isfinite(y)) {
          flush();  // a failed call is a gap, never a zero
          continue;
        }
        if (run_points++) run += ' ';
        run += px(l.map_x(x)) + "," + px(l.map_y(y));
      }
      flush();
    }
    for (const auto& [x, y] : points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      out += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"3\" stroke=\"none\"><title>{} {}: {}</title></circle>\n",
          px(l.map_x(x)), px(l.map_y(y)), html_escape(series.name),
          format_fixed(x, all_integral({x}) ? 0 : 2), format_fixed(y, value_decimals));
    }
    out += "</g>\n";
  }
}

void draw_bars(const ChartSpec& spec, const Layout& l, const std::vector<double>& categories,
               int value_decimals, std::string& out) {
  const auto& colors = series_colors();
  double band = (l.right - l.left) / static_cast<double>(categories.size());
  double bar = band * 0.8 / static_cast<double>(std::max<size_t>(1, spec.series.size()));
  for (size_t s = 0; s < spec.series.size(); ++s) {
    const ChartSeries& series = spec.series[s];
    out += fmt::format("<g class=\"series\" data-name=\"{}\" fill=\"{}\">\n",
                       html_escape(series.name), colors[s % colors.size()]);
    for (size_t i = 0; i < series.y.size(); ++i) {
      double x = x_at(series, i), y = series.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      size_t c = static_cast<size_t>(std::lower_bound(categories.begin(), categories.end(), x) -
                                     categories.begin());
      double bar_left =
          l.left + band * (static_cast<double>(c) + 0.1) + bar * static_cast<double>(s);
      double top = l.map_y(std::max(y, 0.0)), base = l.map_y(std::min(y, 0.0));
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{} {}: {}</title></rect>\n",
          px(bar_left), px(top), px(bar), px(base - top), html_escape(series.name),
          format_fixed(x, all_integral({x}) ? 0 : 2), format_fixed(y, value_decimals));
    }
    out += "</g>\n";
  }
}

double bound_at(const std::vector<double>& bounds, size_t i) {
  return i < bounds.size() ? bounds[i] : NAN;
}

// Means as dots with their interval as a capped vertical bar, series side by side in each category.
void draw_intervals(const ChartSpec& spec, const Layout& l, int value_decimals, std::string& out) {
  const auto& colors = series_colors();
  double band = (l.right - l.left) / static_cast<double>(std::max<size_t>(1, spec.categories.size()));
  double slot = band * 0.7 / static_cast<double>(std::max<size_t>(1, spec.series.size()));
  for (size_t s = 0; s < spec.series.size(); ++s) {
    const ChartSeries& series = spec.series[s];
    const std::string& color = colors[s % colors.size()];
    out += fmt::format("<g class=\"series\" data-name=\"{}\" fill=\"{}\" stroke=\"{}\">\n",
                       html_escape(series.name), color, color);
    for (size_t i = 0; i < series.y.size(); ++i) {
      double c = x_at(series, i) - (series.x.empty() ? 1 : 0);  // category index
      double y = series.y[i];
      if (!std::isfinite(c) || !std::isfinite(y) || c < 0 ||
          c >= static_cast<double>(spec.categories.size())) {
        continue;
      }
      double cx = l.left + band * (c + 0.15) + slot * (static_cast<double>(s) + 0.5);
      double lo = bound_at(series.lower, i), hi = bound_at(series.upper, i);
      std::string label = spec.categories[static_cast<size_t>(c)];
      std::string interval;
      if (std::isfinite(lo) && std::isfinite(hi)) {
        double cap = std::min(8.0, slot * 0.4);
        out += fmt::format(
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke-width=\"2\"/>"
            "<line x1=\"{3}\" y1=\"{1}\" x2=\"{4}\" y2=\"{1}\" stroke-width=\"2\"/>"
            "<line x1=\"{3}\" y1=\"{2}\" x2=\"{4}\" y2=\"{2}\" stroke-width=\"2\"/>\n",
            px(cx), px(l.map_y(lo)), px(l.map_y(hi)), px(cx - cap), px(cx + cap));
        interval = fmt::format(" ({} to {})", format_fixed(lo, value_decimals),
                               format_fixed(hi, value_decimals));
      }
      out += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"4\" stroke=\"none\"><title>{} {}: {}{}</title>"
          "</circle>\n",
          px(cx), px(l.map_y(y)), html_escape(series.name), html_escape(label),
          format_fixed(y, value_decimals), interval);
    }
    out += "</g>\n";
  }
}

std::string describe(const ChartSpec& spec, int decimals) {
  std::string desc;
  for (const auto& s : spec.series) {
    if (!desc.empty()) desc += "; ";
    desc += s.name + ":";
    for (size_t i = 0; i < s.y.size(); ++i) {
      desc += i ? ", " : " ";
      desc += std::isfinite(s.y[i]) ? format_fixed(s.y[i], decimals) : std::string("failed");
    }
  }
  return desc;
}

}  // namespace

std::string format_fixed(double value, int decimals) {
  if (!std::isfinite(value)) return std::isnan(value) ? "NaN" : (value > 0 ? "inf" : "-inf");
  std::string text = fmt::format("{:.{}f}", value, std::max(0, decimals));
  if (text.find_first_not_of("-0.") == std::string::npos && text[0] == '-') text.erase(0, 1);
  return text;
}

Ticks nice_ticks(double lo, double hi, int target_count) {
  Ticks ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi == lo) {
    double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / std::max(1, target_count);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / magnitude;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  double first = std::floor(lo / step + 1e-9) * step;
  double last = std::ceil(hi / step - 1e-9) * step;
  auto count = static_cast<int>(std::llround((last - first) / step));
  for (int i = 0; i <= count; ++i) ticks.values.push_back(first + step * i);
  ticks.step = step;
  ticks.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return ticks;
}

const std::vector<std::string>& series_colors() {
  static const std::vector<std::string> kColors = {"#0072B2", "#E69F00", "#009E73",
                                                   "#CC79A7", "#56B4E9", "#D55E00"};
  return kColors;
}

std::string render_svg_chart(const ChartSpec& spec) {
  const double width = std::max(200, spec.width_px), height = std::max(150, spec.height_px);
  std::vector<double> xs, ys;
  for (const auto& s : spec.series) {
    for (size_t i = 0; i < s.y.size(); ++i) {
      double x = x_at(s, i);
      if (!std::isfinite(x) || !std::isfinite(s.y[i])) continue;
      xs.push_back(x);
      ys.push_back(s.y[i]);
      for (double bound : {bound_at(s.lower, i), bound_at(s.upper, i)}) {
        if (spec.kind == ChartKind::kInterval && std::isfinite(bound)) ys.push_back(bound);
      }
    }
  }
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\" "
      "fill=\"#1d232a\">\n",
      width, height);
  Ticks y_ticks;
  if (!ys.empty()) {
    auto [min_it, max_it] = std::minmax_element(ys.begin(), ys.end());
    double lo = spec.y_from_zero ? std::min(0.0, *min_it) : *min_it;
    y_ticks = nice_ticks(lo, *max_it, 5);
  }
  int value_decimals = std::clamp(y_ticks.decimals + 1, 2, 6);
  out += "<title>" + html_escape(spec.title) + "</title>\n";
  out += "<desc>" + html_escape(describe(spec, value_decimals)) + "</desc>\n";
  out += fmt::format("<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", width, height);
  out += fmt::format(
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" "
      "font-weight=\"bold\">{}</text>\n",
      px(width / 2), html_escape(spec.title));
  legend(spec, out);

  Layout l{kLeftPx, width - kRightPx, kTopPx, height - kBottomPx, 0, 1, 0, 1};
  if (ys.empty()) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n",
                       px(width / 2), px(height / 2));
  } else {
    l.y_lo = y_ticks.values.front();
    l.y_hi = y_ticks.values.back();
    y_axis(l, y_ticks, out);
    out += "<g class=\"x-axis\">\n";
    if (spec.kind == ChartKind::kInterval) {
      double band =
          (l.right - l.left) / static_cast<double>(std::max<size_t>(1, spec.categories.size()));
      for (size_t c = 0; c < spec.categories.size(); ++c) {
        x_tick(l, l.left + band * (static_cast<double>(c) + 0.5), html_escape(spec.categories[c]),
               out);
      }
      out += "</g>\n";
      draw_intervals(spec, l, value_decimals, out);
    } else if (spec.kind == ChartKind::kBar) {
      std::set<double> unique(xs.begin(), xs.end());
      std::vector<double> categories(unique.begin(), unique.end());
      double band = (l.right - l.left) / static_cast<double>(categories.size());
      bool integral = all_integral(categories);
      for (size_t c = 0; c < categories.size(); ++c) {
        x_tick(l, l.left + band * (static_cast<double>(c) + 0.5),
               format_fixed(categories[c], integral ? 0 : 2), out);
      }
      out += "</g>\n";
      draw_bars(spec, l, categories, value_decimals, out);
    } else {
      auto [min_x, max_x] = std::minmax_element(xs.begin(), xs.end());
      Ticks x_ticks = nice_ticks(*min_x, *max_x, 8);
      if (all_integral(xs) && x_ticks.step < 1) {
        // Call indices: whole-number ticks only ("call 1.5" does not exist).
        x_ticks = Ticks{{}, 1, 0};
        for (double v = *min_x; v <= *max_x; v += 1) x_ticks.values.push_back(v);
      }
      l.x_lo = std::min(*min_x, x_ticks.values.front());
      l.x_hi = std::max(*max_x, x_ticks.values.back());
      for (double v : x_ticks.values) x_tick(l, l.map_x(v), format_fixed(v, x_ticks.decimals), out);
      out += "</g>\n";
      draw_points(spec, l, value_decimals, out);
    }
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#5b6673\"/>"
        "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" stroke=\"#5b6673\"/>\n",
        px(l.left), px(l.bottom), px(l.right), px(l.top));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     px((l.left + l.right) / 2), px(height - 8), html_escape(spec.x_label));
  out += fmt::format(
      "<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      px((l.top + l.bottom) / 2), html_escape(spec.y_label));
  out += "</svg>\n";
  return out;
}

}  // namespace chimera::report
