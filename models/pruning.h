// Head pruning on the All-attention LM: the gates each step feeds the
// model, and compaction, the weight surgery that removes closed heads.
// (docs/spec.md sections 5, 6 and 9.)
#pragma once

#include <memory>
#include <vector>

#include "models/allatt_lm.h"

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

// Gate logits +magnitude for kept heads, -magnitude for the others (a mask
// chosen by a scoring method, models/head_importance.h).
void set_gate_logits(const AllAttLM& model, const std::vector<std::vector<bool>>& keep, double magnitude);

// Heads kept by the deterministic gates, per layer.
std::vector<std::vector<bool>> kept_heads(const AllAttLM& model);

// A new model without the closed heads: the kept heads' rows of q/k/v/r,
// their u/v biases and persistent vectors, the matching columns of the output
// projection (times the output scaling c, folded in), everything else
// copied. Its layers have ragged head counts (config.heads_per_layer) and no
// gates; in evaluation it computes what the gated model computes.
std::unique_ptr<AllAttLM> compact(const AllAttLM& gated, bool output_scaling);

}  // namespace hc
