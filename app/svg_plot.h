// SVG charts drawn by headcount itself (compare, profile): no plotting
// library, a few hundred bytes of markup per series, data-* attributes on
// every mark so tests (and scripts) can read the numbers back.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hc {

// One point of a series; y_lo..y_hi is its error bar (the range over
// seeds), none when both equal y.
struct Point {
  double x = 0, y = 0, y_lo = 0, y_hi = 0;
  Point(double x_, double y_) : x(x_), y(y_), y_lo(y_), y_hi(y_) {}
  Point(double x_, double y_, double lo, double hi) : x(x_), y(y_), y_lo(lo), y_hi(hi) {}
};

struct Series {
  std::string name;
  std::vector<Point> points;  // drawn in x order
};

// Tick positions at round values (1, 2 or 5 times a power of ten) covering
// [lo, hi] with about `target` intervals; integers only when `integers`.
std::vector<double> round_ticks(double lo, double hi, int target, bool integers);

// A tick label without float noise: up to 6 significant digits.
std::string tick_label(double v);

// A line plot: one polyline with dots (and error bars) per series, linear
// axes with round ticks; `integer_x` for counts on the x axis.
std::string line_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series, bool integer_x = false);

// A scatter of predicted (y) against measured (x): one range on both axes,
// the line y = x and dashed lines at y = (1 -+ band) x.
std::string scatter_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                         const std::vector<Series>& series, double band);

// A stacked bar chart: one bar per label, one coloured segment per part
// (values[bar][part] >= 0), with a legend of the parts.
std::string stacked_bars(const std::string& title, const std::string& y_label, const std::vector<std::string>& bars,
                         const std::vector<std::string>& parts, const std::vector<std::vector<double>>& values);

}  // namespace hc
