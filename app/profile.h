// The measuring parts of `headcount profile` that tests drive directly: the
// straight-line fit of time against head count, and the per-layer sweep that
// feeds it.
#pragma once

#include <functional>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

// time = a + b * heads, least squares; the residuals say how straight it is.
struct LinearFit {
  double a = 0, b = 0;
  double rms_residual = 0;      // seconds
  double max_rel_residual = 0;  // max |residual| / time
};
LinearFit fit_line(const std::vector<double>& x, const std::vector<double>& y);

// For each layer l: the model with layer l at 0, 1, ..., H heads and every
// other layer at its configured count, timed by `time_of`; one fit per layer.
struct LayerSweep {
  std::vector<double> heads, seconds;
  LinearFit fit;
};
std::vector<LayerSweep> sweep_heads(const AllAttConfig& c, const std::function<double(const AllAttConfig&)>& time_of,
                                    const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace hc
