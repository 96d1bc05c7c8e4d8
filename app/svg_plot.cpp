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

std::string line_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series, bool integer_x) {
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const Series& s : series)
    for (const Point& p : s.points) {
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y_lo), y1 = std::max(y1, p.y_hi);
    }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  // The axes span whole tick intervals around the data.
  const std::vector<double> xt = round_ticks(x0, x1, 5, integer_x), yt = round_ticks(y0, y1, 5, false);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  x0 = std::min(x0, xt.front()), x1 = std::max(x1, xt.back());
  if (x0 == xt.front() && x0 == x1) x1 += xstep;
  y0 = std::min(y0, yt.front()), y1 = std::max(y1, yt.back());
  if (y0 == yt.front() && y0 == y1) y1 += ystep;
  const int left = 70, top = 30, w = 520, h = 320, legend = 200;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * w; };
  auto py = [&](double y) { return top + h - (y - y0) / (y1 - y0) * h; };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + w + legend << "\" height=\"" << top + h + 50
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<text x=\"" << left << "\" y=\"18\">" << title << "</text>\n"
      << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << w << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double x : xt)
    svg << "<text x=\"" << px(x) << "\" y=\"" << top + h + 15 << "\" text-anchor=\"middle\" data-tick=\"x\">"
        << tick_label(x) << "</text>\n";
  for (double y : yt)
    svg << "<text x=\"" << left - 4 << "\" y=\"" << py(y) + 4 << "\" text-anchor=\"end\" data-tick=\"y\">"
        << tick_label(y) << "</text>\n";
  svg << "<text x=\"" << left + w / 2 << "\" y=\"" << top + h + 35 << "\" text-anchor=\"middle\">" << x_label
      << "</text>\n<text x=\"12\" y=\"" << top + h / 2 << "\" transform=\"rotate(-90 12 " << top + h / 2
      << ")\" text-anchor=\"middle\">" << y_label << "</text>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    std::vector<Point> pts = series[i].points;
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    const char* color = kColors[i % 10];
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" data-series=\"" << series[i].name
        << "\" points=\"";
    for (const Point& p : pts) svg << px(p.x) << "," << py(p.y) << " ";
    svg << "\"/>\n";
    for (const Point& p : pts) {
      if (p.y_hi > p.y_lo)
        svg << "<line x1=\"" << px(p.x) << "\" x2=\"" << px(p.x) << "\" y1=\"" << py(p.y_lo) << "\" y2=\"" << py(p.y_hi)
            << "\" stroke=\"" << color << "\" data-series=\"" << series[i].name << "\" data-lo=\"" << p.y_lo
            << "\" data-hi=\"" << p.y_hi << "\"/>\n";
      svg << "<circle cx=\"" << px(p.x) << "\" cy=\"" << py(p.y) << "\" r=\"3\" fill=\"" << color << "\" data-series=\""
          << series[i].name << "\" data-x=\"" << p.x << "\" data-y=\"" << p.y << "\"/>\n";
    }
    svg << "<text x=\"" << left + w + 10 << "\" y=\"" << top + 12 + 16 * static_cast<int>(i) << "\" fill=\"" << color
        << "\">" << series[i].name << "</text>\n";
  }
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
