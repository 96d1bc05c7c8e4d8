// Head-importance criteria: the ways the pruning literature chooses which
// heads to keep, on one interface, so that `headcount prune --method ...`
// compares them on the same dense checkpoint and the same budget.
//
//   magnitude  the L2 norm of everything a head owns: its rows of q/k/v/r,
//              its u/v biases, its persistent vectors, its columns of the
//              output projection
//   taylor     the first-order Taylor estimate of the loss change when a
//              head is removed (Michel et al. 2019): I_h = mean over batches
//              of |dL/dz_h| at z = 1, z_h the head's output multiplier,
//              normalised per layer by the layer's L2 norm of I
//   random     a seeded permutation: the sanity baseline
// (`l0` and `topk` learn their choice during fine-tuning: train.cpp.)
// Scores are one vector per layer, higher = more important.
#pragma once

#include <functional>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

using HeadScores = std::vector<std::vector<double>>;

HeadScores magnitude_scores(const AllAttLM& model);
HeadScores random_scores(const AllAttLM& model, uint64_t seed);
// loss_of(gates) returns the loss of the next batch with the given gates
// (one (H_l) vector per layer); called `batches` times.
HeadScores taylor_scores(const AllAttLM& model, const std::function<Variable(const std::vector<Variable>&)>& loss_of,
                         int64_t batches);

// The K best heads over all layers (ties to the earlier layer and head):
// one keep flag per head.
std::vector<std::vector<bool>> top_heads(const HeadScores& scores, int64_t K);

}  // namespace hc
