// The warm-up shared by the learned methods: over the first l0_warmup steps
// of the selection, a ramp from 0 to 1 that L0 applies to its coefficient
// (coefficient mode) or to its target head count (with a budget), and that
// top-K applies to the heads it keeps. Slowly shrinking the model, rather
// than cutting it at once, is the paper's first technique.
#pragma once

#include <algorithm>

#include "models/pruning_method.h"

namespace hc {

// (step+1)/warmup of the way at 0-based step `step`, then all of it.
inline double warmup_ramp(const PruneSetup& s, int64_t step) {
  const int64_t w = s.config.l0_warmup;
  return w > 0 ? std::min(1.0, double(step + 1) / double(w)) : 1.0;
}

// The head count aimed at in step `step`: all heads, falling linearly to the budget.
inline double target_at(const PruneSetup& s, int64_t step) {
  return double(s.heads) - warmup_ramp(s, step) * double(s.heads - s.budget);
}

}  // namespace hc
