// The Shapley values of `shapley` (models/methods/shapley.cpp), exact and
// sampled, on any set loss: what its tests check.
#pragma once

#include <cstdint>
#include <vector>

#include "models/methods/head_sets.h"

namespace hc {

// The value of a set S of heads is v(S) = -loss(S), so head h's Shapley value
//   phi_h = sum over S not holding h of |S|! (N-|S|-1)! / N! (loss(S) - loss(S + h))
// is the loss it removes, averaged over the orders in which heads can join.
// They add up to v(all) - v(none) = loss(no heads) - loss(all heads).
struct ShapleyValues {
  std::vector<double> value;      // phi_h, nats
  std::vector<double> std_error;  // of the sampled mean (0 when exact)
  int64_t permutations = 0;       // orders sampled (N! when exact)
  int64_t sets_scored = 0;        // distinct sets whose loss was computed
  int64_t truncated = 0;          // marginals set to 0 without a loss computed
};

// Every one of the 2^N sets (N <= 20).
ShapleyValues exact_shapley(int64_t N, const SetLoss& loss);

// Truncated Monte Carlo (Ghorbani and Zou 2019, as Held and Yang 2022 use it):
// `permutations` orders of the heads drawn from Philox(seed); along each, the
// heads join one by one from the empty set and each gets its marginal
// loss(S) - loss(S + h); once loss(S) is within `truncation` nats of
// loss(all), the rest of that order gets 0 without a loss computed. Each
// set's loss is computed once. phi_h is the mean marginal and std_error its
// standard error, sd / sqrt(permutations). Needs permutations >= 2.
ShapleyValues sampled_shapley(int64_t N, const SetLoss& loss, int64_t permutations, double truncation, uint64_t seed);

}  // namespace hc
