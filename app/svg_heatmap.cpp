#include "app/svg_heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "app/svg_plot.h"

namespace hc {

std::string scale_colour(double t) {
  // Linear in RGB between two ends of a sequential blue ramp: light enough
  // at 0 for black text, dark enough at 1 for white text.
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const int light[3] = {240, 246, 252}, dark[3] = {8, 48, 107};
  char out[24];
  int c[3];
  for (int i = 0; i < 3; ++i) c[i] = static_cast<int>(std::lround(light[i] + t * (dark[i] - light[i])));
  std::snprintf(out, sizeof out, "rgb(%d,%d,%d)", c[0], c[1], c[2]);
  return out;
}

namespace {

// The text colour that reads on a cell of fraction t.
const char* ink(double t) { return t > 0.55 ? "#fff" : "#000"; }

// Where a value falls on a scale from lo to hi, as a fraction in [0, 1].
double fraction(double v, double lo, double hi) { return hi > lo ? std::clamp((v - lo) / (hi - lo), 0.0, 1.0) : 0.0; }

// A cell's value as printed: three significant digits, no exponent for the usual range.
std::string cell_label(double v) {
  char out[24];
  std::snprintf(out, sizeof out, "%.3g", v);
  return out;
}

}  // namespace

std::string colour_scale(int x, int y, int width, double lo, double hi, const std::string& unit) {
  if (!(hi > lo)) hi = lo + 1;
  const int bands = 20, h = 10;
  std::ostringstream svg;
  svg << "<g data-scale=\"colour\" data-lo=\"" << lo << "\" data-hi=\"" << hi << "\">\n";
  for (int i = 0; i < bands; ++i)
    svg << "<rect x=\"" << x + width * i / bands << "\" y=\"" << y << "\" width=\"" << width / bands + 1 << "\" height=\""
        << h << "\" fill=\"" << scale_colour((i + 0.5) / bands) << "\"/>\n";
  svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << width << "\" height=\"" << h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double t : round_ticks(lo, hi, 4, false)) {
    const double at = x + width * (t - lo) / (hi - lo);
    svg << "<line x1=\"" << at << "\" x2=\"" << at << "\" y1=\"" << y + h << "\" y2=\"" << y + h + 3
        << "\" stroke=\"#444\"/><text x=\"" << at << "\" y=\"" << y + h + 14 << "\" text-anchor=\"middle\">"
        << tick_label(t) << "</text>\n";
  }
  svg << "<text x=\"" << x + width + 8 << "\" y=\"" << y + h - 1 << "\">" << unit << "</text>\n</g>\n";
  return svg.str();
}

std::string head_grid(const std::string& title, const std::vector<std::vector<double>>& value, const std::string& unit,
                      double hi) {
  const int cw = 46, ch = 24, left = 70, top = 40;
  size_t heads = 0;
  double largest = 0;
  for (const auto& row : value) {
    heads = std::max(heads, row.size());
    for (double v : row)
      if (!std::isnan(v)) largest = std::max(largest, v);
  }
  if (hi <= 0) hi = largest > 0 ? largest : 1;
  const int grid_w = static_cast<int>(heads) * cw, grid_h = static_cast<int>(value.size()) * ch;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + std::max(grid_w, 260) + 120 << "\" height=\""
      << top + grid_h + 70 << "\" font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"10\" y=\"18\">" << title
      << "</text>\n";
  for (size_t h = 0; h < heads; ++h)
    svg << "<text x=\"" << left + static_cast<int>(h) * cw + cw / 2 << "\" y=\"" << top - 4
        << "\" text-anchor=\"middle\">head " << h << "</text>\n";
  for (size_t l = 0; l < value.size(); ++l) {
    const int y = top + static_cast<int>(l) * ch;
    svg << "<text x=\"4\" y=\"" << y + 15 << "\">layer " << l << "</text>\n";
    for (size_t h = 0; h < value[l].size(); ++h) {
      const int x = left + static_cast<int>(h) * cw;
      const double v = value[l][h], t = fraction(v, 0, hi);
      svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cw - 2 << "\" height=\"" << ch - 2 << "\" fill=\""
          << (std::isnan(v) ? "#fff" : scale_colour(t)) << "\" stroke=\"#ccc\" data-layer=\"" << l << "\" data-head=\"" << h
          << "\" data-value=\"" << v << "\"/>\n<text x=\"" << x + cw / 2 - 1 << "\" y=\"" << y + 15
          << "\" text-anchor=\"middle\" fill=\"" << (std::isnan(v) ? "#000" : ink(t)) << "\">"
          << (std::isnan(v) ? "x" : cell_label(v)) << "</text>\n";
    }
  }
  svg << colour_scale(left, top + grid_h + 12, 200, 0, hi, unit) << "<text x=\"" << left << "\" y=\""
      << top + grid_h + 60 << "\">each cell: the head's value; x = removed head</text>\n</svg>\n";
  return svg.str();
}

namespace {

// Every stride-th of n columns, so that at most max_columns remain, and the last.
std::vector<size_t> picked_columns(size_t n, size_t max_columns) {
  const size_t stride = (n + max_columns - 1) / std::max<size_t>(1, max_columns);
  std::vector<size_t> picked;
  for (size_t i = 0; i < n; i += std::max<size_t>(1, stride)) picked.push_back(i);
  if (!picked.empty() && picked.back() != n - 1) picked.push_back(n - 1);
  return picked;
}

}  // namespace

std::string step_heatmap(const std::string& title, const std::vector<int64_t>& all_steps,
                         const std::vector<std::vector<std::vector<double>>>& all_values, double lo, double hi,
                         const std::string& unit, size_t max_columns) {
  std::vector<int64_t> steps;
  std::vector<std::vector<std::vector<double>>> values;
  for (size_t c : picked_columns(all_values.size(), max_columns)) steps.push_back(all_steps[c]), values.push_back(all_values[c]);
  const auto& shape = values.front();
  const int columns = static_cast<int>(values.size()), left = 110, top = 30, gap = 4, row_h = 12;
  const int cell_w = std::max(2, 600 / columns), plot_w = cell_w * columns;
  int rows = 0;
  for (const auto& layer : shape) rows += static_cast<int>(layer.size());
  const int plot_h = rows * row_h + gap * static_cast<int>(shape.size());
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + plot_w + 40 << "\" height=\"" << top + plot_h + 90
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"10\" y=\"18\">" << title << "</text>\n";
  int y = top;
  for (size_t l = 0; l < shape.size(); ++l) {
    for (size_t h = 0; h < shape[l].size(); ++h, y += row_h) {
      svg << "<text x=\"" << left - 6 << "\" y=\"" << y + row_h - 2 << "\" text-anchor=\"end\" font-size=\"10\">layer "
          << l << " head " << h << "</text>\n";
      for (int c = 0; c < columns; ++c) {
        const double v = values[c][l][h];
        svg << "<rect x=\"" << left + c * cell_w << "\" y=\"" << y << "\" width=\"" << cell_w << "\" height=\"" << row_h
            << "\" fill=\"" << scale_colour(fraction(v, lo, hi)) << "\" data-layer=\"" << l << "\" data-head=\"" << h
            << "\" data-step=\"" << steps[c] << "\" data-value=\"" << v << "\"/>\n";
      }
    }
    y += gap;
  }
  // Step ticks at round values, placed where those steps fall between the logged columns.
  const double s0 = double(steps.front()), s1 = double(std::max(steps.back(), steps.front() + 1));
  for (double s : round_ticks(s0, s1, 5, true)) {
    const double x = left + cell_w / 2.0 + (plot_w - cell_w) * (s - s0) / (s1 - s0);
    svg << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << y << "\" y2=\"" << y + 4 << "\" stroke=\"#444\"/>"
        << "<text x=\"" << x << "\" y=\"" << y + 16 << "\" text-anchor=\"middle\" data-tick=\"x\">" << tick_label(s)
        << "</text>\n";
  }
  svg << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << y + 32 << "\" text-anchor=\"middle\">step</text>\n"
      << colour_scale(left, y + 44, 200, lo, hi, unit) << "</svg>\n";
  return svg.str();
}

}  // namespace hc
