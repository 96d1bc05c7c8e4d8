// The pruning gates of a model: one hard-concrete gate per head
// (autograd/ops/hard_concrete.cpp), read for a forward pass, set by a
// method, and read out as the set of heads the model keeps.
// (docs/spec.md sections 5 and 6.)
#pragma once

#include <vector>

#include "models/allatt_lm.h"
#include "models/head_mask.h"
#include "models/rng_stream.h"

namespace hc {

// One gate vector per layer for a forward pass: hard-concrete samples in
// training, the deterministic gates (1 iff log_alpha >= 0) in evaluation.
// With output scaling (the paper's third technique), each layer's gates are
// multiplied by c = clamp(H / (H - closed + 1e-3), 1, H), a constant (no
// gradient flows through it), so that a layer's output keeps its scale as
// heads close, like inverted dropout.
std::vector<Variable> layer_gates(const AllAttLM& model, RngStream& rng, bool training, bool output_scaling);
// One layer's 0/1 gates (H) times that scaling constant.
Variable with_output_scaling(const Variable& z);
// The constant c for a layer of H heads with `closed` of them closed.
double output_scale(int64_t H, int64_t closed);

// Gate logits +magnitude for kept heads, -magnitude for the others: at
// |log_alpha| = 20 the hard-concrete sample is 1 or 0 whatever its noise.
void set_gate_logits(const AllAttLM& model, const HeadMask& keep, double magnitude);

// The gate logits, one vector per layer.
HeadScores gate_logit_values(const AllAttLM& model);
// Heads kept by the deterministic gates (log_alpha >= 0): what compaction keeps.
HeadMask kept_heads(const AllAttLM& model);
// P(gate != 0) of every head.
HeadScores open_probabilities(const AllAttLM& model);

// The exact readout that ends a run with a budget: the heads of `keep` stay
// (their logits raised to at least 0) and every other closes (its logit
// lowered below 0), so that compaction keeps exactly them.
void read_out(const AllAttLM& model, const HeadMask& keep);
// read_out of the K heads with the largest logits.
void read_out_top(const AllAttLM& model, int64_t K);

}  // namespace hc
