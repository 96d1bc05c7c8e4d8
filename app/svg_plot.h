// SVG charts drawn by headcount itself (compare, profile): no plotting
// library, a few hundred bytes of markup per series, data-* attributes on
// every mark so tests (and scripts) can read the numbers back.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace hc {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in x order
};

// A line plot: one polyline with dots per series, linear axes with 5 ticks.
std::string line_plot(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series);

// A stacked bar chart: one bar per label, one coloured segment per part
// (values[bar][part] >= 0), with a legend of the parts.
std::string stacked_bars(const std::string& title, const std::string& y_label, const std::vector<std::string>& bars,
                         const std::vector<std::string>& parts, const std::vector<std::vector<double>>& values);

// A layer x head grid shaded by value[l][h] (darker = more); a negative
// value marks a removed head (white, crossed).
std::string head_grid(const std::string& title, const std::vector<std::vector<double>>& value, const std::string& unit);

}  // namespace hc
