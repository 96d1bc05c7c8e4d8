#include "app/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace hc {

namespace {
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                         "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"};
}  // namespace

std::vector<double> round_ticks(double lo, double hi, int target, bool integers) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  if (integers) step = std::max(1.0, std::round(step));
  std::vector<double> ticks;
  for (double t = std::floor(lo / step) * step; t <= hi + 1e-9 * step; t += step)
    if (t >= lo - 1e-9 * step) ticks.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  return ticks;
}

std::string tick_label(double v) {
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}

namespace {

// The frame of a chart: data ranges widened to whole tick intervals, the
// pixel mapping, and the title, ticks and axis labels written into `svg`.
struct Axes {
  double x0, x1, y0, y1;
  static constexpr int left = 70, top = 30, w = 520, h = 320;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * w; }
  double py(double y) const { return top + h - (y - y0) / (y1 - y0) * h; }
};

Axes draw_axes(std::ostringstream& svg, const std::string& title, const std::string& x_label, const std::string& y_label,
               double x0, double x1, double y0, double y1, bool integer_x, int legend) {
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  // The axes span whole tick intervals around the data.
  const std::vector<double> xt = round_ticks(x0, x1, 5, integer_x), yt = round_ticks(y0, y1, 5, false);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back());
  if (x0 == xt.front() && x0 == x1) x1 += xstep;
  y0 = std::min(y0, yt.front()), y1 = std::max(y1, yt.back());
  if (y0 == yt.front() && y0 == y1) y1 += ystep;
  const Axes a{x0, x1, y0, y1};
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << a.left + a.w + legend << "\" height=\"" << a.top + a.h + 50
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<text x=\"" << a.left << "\" y=\"18\">" << title << "</text>\n"
      << "<rect x=\"" << a.left << "\" y=\"" << a.top << "\" width=\"" << a.w << "\" height=\"" << a.h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double x : xt)
    svg << "<text x=\"" << a.px(x) << "\" y=\"" << a.top + a.h + 15 << "\" text-anchor=\"middle\" data-tick=\"x\">"
        << tick_label(x) << "</text>\n";
  for (double y : yt)
    svg << "<text x=\"" << a.left - 4 << "\" y=\"" << a.py(y) + 4 << "\" text-anchor=\"end\" data-tick=\"y\">"
        << tick_label(y) << "</text>\n";
  svg << "<text x=\"" << a.left + a.w / 2 << "\" y=\"" << a.top + a.h + 35 << "\" text-anchor=\"middle\">" << x_label
      << "</text>\n<text x=\"12\" y=\"" << a.top + a.h / 2 << "\" transform=\"rotate(-90 12 " << a.top + a.h / 2
      << ")\" text-anchor=\"middle\">" << y_label << "</text>\n";
  return a;
}

// A series' dots (and error bars) and its legend entry, the i-th of the chart.
void draw_points(std::ostringstream& svg, const Axes& a, const Series& s, size_t i) {
  const char* color = kColors[i % 10];
  for (const Point& p : s.points) {
    if (p.y_hi > p.y_lo)
      svg << "<line x1=\"" << a.px(p.x) << "\" x2=\"" << a.px(p.x) << "\" y1=\"" << a.py(p.y_lo) << "\" y2=\"" << a.py(p.y_hi)
          << "\" stroke=\"" << color << "\" data-series=\"" << s.name << "\" data-lo=\"" << p.y_lo << "\" data-hi=\"" << p.y_hi
          << "\"/>\n";
    svg << "<circle cx=\"" << a.px(p.x) << "\" cy=\"" << a.py(p.y) << "\" r=\"3\" fill=\"" << color << "\" data-series=\""
        << s.name << "\" data-x=\"" << p.x << "\" data-y=\"" << p.y << "\"/>\n";
  }
  svg << "<text x=\"" << a.left + a.w + 10 << "\" y=\"" << a.top + 12 + 16 * static_cast<int>(i) << "\" fill=\"" << color
      << "\">" << s.name << "</text>\n";
}

}  // namespace

std::string line_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series, bool integer_x) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const Series& s : series)
    for (const Point& p : s.points) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y_lo), y1 = std::max(y1, p.y_hi);
    }
  std::ostringstream svg;
  const Axes a = draw_axes(svg, title, x_label, y_label, x0, x1, y0, y1, integer_x, 200);
  for (size_t i = 0; i < series.size(); ++i) {
    std::vector<Point> pts = series[i].points;
    std::sort(pts.begin(), pts.end(), [](const Point& p, const Point& q) { return p.x < q.x; });
    svg << "<polyline fill=\"none\" stroke=\"" << kColors[i % 10] << "\" stroke-width=\"1.5\" data-series=\""
        << series[i].name << "\" points=\"";
    for (const Point& p : pts) svg << a.px(p.x) << "," << a.py(p.y) << " ";
    svg << "\"/>\n";
    draw_points(svg, a, {series[i].name, pts}, i);
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string scatter_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                         const std::vector<Series>& series, double band) {
  // One range for both axes, so that the diagonal is the 45-degree line.
  double lo = 1e300, hi = -1e300;
  for (const Series& s : series)
    for (const Point& p : s.points) lo = std::min({lo, p.x, p.y}), hi = std::max({hi, p.x, p.y});
  lo = std::max(0.0, lo - 0.1 * (hi - lo));
  std::ostringstream svg;
  const Axes a = draw_axes(svg, title, x_label, y_label, lo, hi, lo, hi, false, 200);
  // y = x, and y = (1 -+ band) x: the points between the dashed lines are
  // within the band, as seen from the measured side (x).
  for (double k : {1.0, 1 - band, 1 + band}) {
    const double x_end = std::min(a.x1, a.y1 / k), x_start = std::max(a.x0, a.y0 / k);
    svg << "<line x1=\"" << a.px(x_start) << "\" y1=\"" << a.py(k * x_start) << "\" x2=\"" << a.px(x_end) << "\" y2=\""
        << a.py(k * x_end) << "\" stroke=\"#888\"" << (k == 1.0 ? "" : " stroke-dasharray=\"4 3\"") << " data-slope=\"" << k
        << "\"/>\n";
  }
  for (size_t i = 0; i < series.size(); ++i) draw_points(svg, a, series[i], i);
  svg << "</svg>\n";
  return svg.str();
}

std::string stacked_bars(const std::string& title, const std::string& y_label, const std::vector<std::string>& bars,
                         const std::vector<std::string>& parts, const std::vector<std::vector<double>>& values) {
  double top_value = 0;
  for (const auto& bar : values) {
    double total = 0;
    for (double v : bar) total += v;
    top_value = std::max(top_value, total);
  }
  if (top_value <= 0) top_value = 1;
  const std::vector<double> ticks = round_ticks(0, top_value, 4, false);
  top_value = std::max(top_value, ticks.back());
  const int left = 70, top = 30, h = 320, bar_w = 36, gap = 14, legend = 160;
  const int w = static_cast<int>(bars.size()) * (bar_w + gap) + gap;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + w + legend << "\" height=\"" << top + h + 60
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<text x=\"" << left << "\" y=\"18\">" << title << "</text>\n"
      << "<text x=\"12\" y=\"" << top + h / 2 << "\" transform=\"rotate(-90 12 " << top + h / 2
      << ")\" text-anchor=\"middle\">" << y_label << "</text>\n";
  for (double t : ticks)
    svg << "<text x=\"" << left - 4 << "\" y=\"" << top + h - h * t / top_value + 4 << "\" text-anchor=\"end\" data-tick=\"y\">"
        << tick_label(t) << "</text>\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const int x = left + gap + static_cast<int>(i) * (bar_w + gap);
    double y = top + h;
    for (size_t p = 0; p < parts.size() && p < values[i].size(); ++p) {
      const double height = values[i][p] / top_value * h;
      y -= height;
      svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << bar_w << "\" height=\"" << height
          << "\" fill=\"" << kColors[p % 10] << "\" data-bar=\"" << bars[i] << "\" data-part=\"" << parts[p]
          << "\" data-value=\"" << values[i][p] << "\"/>\n";
    }
    svg << "<text x=\"" << x + bar_w / 2 << "\" y=\"" << top + h + 15 << "\" text-anchor=\"middle\">" << bars[i]
        << "</text>\n";
  }
  for (size_t p = 0; p < parts.size(); ++p)
    svg << "<rect x=\"" << left + w + 10 << "\" y=\"" << top + 16 * static_cast<int>(p) << "\" width=\"10\" height=\"10\" fill=\""
        << kColors[p % 10] << "\"/><text x=\"" << left + w + 24 << "\" y=\"" << top + 9 + 16 * static_cast<int>(p) << "\">"
        << parts[p] << "</text>\n";
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace hc
