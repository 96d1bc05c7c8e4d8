// Pruning to a time budget (issue 28): a budget on the predicted time of the
// pruned model's step, from a cost model (models/cost_model.h), in place of
// a head count. With h_l heads left in layer l the cost model predicts
//   t(h) = c + sum_l g_l(h_l)            seconds, g_l(0) = 0
// (g_l(k) = CostModel::layer_seconds: a_l + b_l k in the linear forms, any
// function of k in the per-count one), so the k-th head of a layer costs
// g_l(k) - g_l(k-1): b_l, plus a_l for the first head of a layer.
//
//   time_budget_seconds  a config's budget, checked against what the model can reach;
//   expected_time        E[t] under the gates' open probabilities, the term
//                        L0 penalises with a time budget (models/methods/l0.cpp);
//   heads_within_time    the readout: the heads worth most per second that fit;
//   largest_time_within  how much of the budget any shape could use, to judge the readout by.
#pragma once

#include <vector>

#include "autograd/variable.h"
#include "models/cost_model.h"
#include "models/head_mask.h"
#include "models/pruning_method.h"

namespace hc {

// The budget of `prune` in seconds: target_ms / 1000, or the predicted time
// of `heads` (the unpruned model's heads per layer) / target_speedup.
// Throws std::invalid_argument, with the times in ms, unless it lies between
// the predicted time of the emptied model (no head) and of the unpruned one
// (which must be the larger), and unless some model of one head fits it.
double time_budget_seconds(const PruneConfig& prune, const CostModel& cost, const std::vector<int64_t>& heads);

// Gate logits, one (H_l) per layer -> (1), seconds: the expected time
//   E[t] = c + sum_l sum_k P(k gates of layer l open) g_l(k),
// the gates independent, each open with p_lh = P(z_lh != 0) (the one
// l0_penalty sums). In the linear forms this is
//   c + sum_l [ (1 - prod_h (1 - p_lh)) a_l + b_l sum_h p_lh ]:
// a layer pays a_l when any of its gates is open, and b_l per open gate.
// Where every p is 0 or 1 it is t(h). Differentiable in the logits
// (expected_layer_cost, autograd/ops/expected_cost.cpp).
Variable expected_time(const std::vector<Variable>& gate_logits, const CostModel& cost);

// Scores, one per head (higher = worth more) -> the heads kept, whose
// predicted time is at most budget_s: greedily, the head of the highest
// value per second of marginal time (g_l(k+1) - g_l(k) with k heads of its
// layer kept: b_l, or a_l + b_l while the layer has none, in the linear forms) among those not yet
// looked at; a head whose addition would exceed the budget is skipped for
// good. A head's value is its score, shifted up by the smallest score when
// some are negative, so that every value is >= 0 and value/time ranks
// cheaper heads of equal score first. A head of marginal time <= 0 (a noisy
// fit) costs nothing and is taken first. Throws if not one head fits.
HeadMask heads_within_time(const HeadScores& scores, const CostModel& cost, double budget_s);

// Heads per layer of the unpruned model (L) -> seconds: the largest t(h)
// over every shape 0 <= h_l <= heads[l] with t(h) <= budget_s, whatever its
// heads. The readout keeps whole heads, so it lands below the budget; this
// says by how much any readout would have to (a head costs several percent
// of a small model's time). Dynamic programming over the layers on a grid
// of 1 us: of the shapes of layers 0..l whose times fall in one microsecond,
// only the quickest is carried on (it leaves the most room), so the answer
// is the time of a shape that fits, at most L + 1 us below the largest. (A
// negative g_l(k), from a noisy fit, may not take a partial sum below 0.)
double largest_time_within(const CostModel& cost, const std::vector<int64_t>& heads, double budget_s);

}  // namespace hc
