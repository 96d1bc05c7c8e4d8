// What the methods that compare sets of heads (shapley, astar) share: a set
// of heads as one flag per head over all layers in order (layer 0's heads
// first), and the loss of the model with only that set open.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "models/pruning_method.h"

namespace hc {

// The loss (nats) with exactly the flagged heads open; the same data on every call.
using SetLoss = std::function<double(const std::vector<bool>&)>;

// A set as the gates of a forward pass: one (H_l) 0/1 vector per layer, each
// times its output-scaling constant when `output_scaling` (what the pruned
// model will run with).
std::vector<Variable> set_gates(const AllAttLM& model, const std::vector<bool>& open, bool output_scaling);

// SetLoss on the probe's fixed batches (ScoreInputs::fixed_loss). A search
// can score a thousand sets (minutes), so every 50th set scored prints a
// line "LABEL: N head sets scored, S s" to stderr.
SetLoss fixed_set_loss(const ScoreInputs& probe, bool output_scaling, const std::string& label);

// Sets the gate logits to `scores` minus one constant that puts the K best
// at >= 0 and the others below (midway between the K-th and (K+1)-th; one
// below the smallest for K = all, one above the largest for K = 0), so the
// deterministic gates name the K heads a method that only ranks its scores
// runs with (movement, dsp): the order, all such a method reads, is kept.
void set_logits_centred(const AllAttLM& model, HeadScores scores, int64_t K);

// A set as a HeadMask of the model's layers, and back.
HeadMask mask_of(const AllAttLM& model, const std::vector<bool>& open);

// "layer 0: 0.1234 +- 0.0100, ..." style lines: one per layer, each head's
// value and, if `error` is not empty, its error.
std::string per_layer_text(const AllAttLM& model, const std::vector<double>& value, const std::vector<double>& error);

}  // namespace hc
