// The parts of `dsp` (models/methods/dsp.cpp) that its tests check on
// their own: the relaxed top-K, the exact-K gate built on it, and the
// temperature schedule.
#pragma once

#include <vector>

#include "models/pruning_method.h"

namespace hc {

// The relaxed top-K of N scores r at temperature tau (the Gumbel-Soft-Top-K
// of Xie and Ermon 2019, here without its noise):
//   a_1 = softmax(r / tau),  a_{j+1} = softmax((r + sum_{i<=j} log(1 - a_i)) / tau),
//   m = a_1 + ... + a_K,
// each a_j a distribution that avoids what a_1..a_{j-1} took; m has N
// entries in [0, 1] that sum to K, and tends to the K-hot top-K as tau -> 0.
// Throws unless 0 <= K <= N and tau > 0.
std::vector<double> relaxed_top_k(const std::vector<double>& r, int64_t K, double tau);

// DSP's gates over all heads of all layers (one (H_l) logit variable per
// layer, `noise` one number per head in the same order): exactly K ones,
// at the K largest logits + noise (ties to the earlier layer and head),
// zeros elsewhere. The backward pass is that of relaxed_top_k(logits +
// noise, K, tau): dL/d logits = J^T dL/dz (straight-through).
std::vector<Variable> subset_gates(const std::vector<Variable>& logits, const std::vector<double>& noise, int64_t K,
                                   double tau);

// The temperature of 0-based step `step` of the selection: dsp_temperature
// at the first step, falling geometrically to dsp_final_temperature at the
// last (step >= steps - 1).
double dsp_temperature_at(const PruneSetup& s, int64_t step);

}  // namespace hc
