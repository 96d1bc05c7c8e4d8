// SVG heatmaps drawn by headcount itself (profile, report): every one has a
// colour scale, and a grid with one cell per head prints the value in each
// cell, so a reader never has to guess a number from a shade. data-*
// attributes on every cell let tests and scripts read the numbers back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hc {

// The fill of a value at fraction t in [0, 1] of its scale: light (0) to dark blue (1).
std::string scale_colour(double t);

// A horizontal colour bar at (x, y), `width` pixels wide, from lo to hi with
// round tick values and the unit beneath it.
std::string colour_scale(int x, int y, int width, double lo, double hi, const std::string& unit);

// A layer x head grid, one cell per head shaded by value[l][h] on a scale
// from 0 to `hi` (hi <= 0: the largest value) and labelled with the value; a
// NaN marks a removed head (white, crossed). A negative value is drawn as
// one: a slope fitted to noisy timings can fall below zero.
std::string head_grid(const std::string& title, const std::vector<std::vector<double>>& value, const std::string& unit,
                      double hi = 0);

// Every head's value over logged steps: one row per head (grouped by
// layer), one column per step; values[c][l][h] is head (l, h) at steps[c],
// shaded on a scale from lo to hi. Every column has the first column's
// shape. At most max_columns columns are drawn, evenly picked, the last step
// always among them.
std::string step_heatmap(const std::string& title, const std::vector<int64_t>& steps,
                         const std::vector<std::vector<std::vector<double>>>& values, double lo, double hi,
                         const std::string& unit, size_t max_columns);

}  // namespace hc
