// What a head costs, on paper: the floating-point work and the bytes of each
// part of an All-attention layer, forward and backward, for a batch of B
// streams of T tokens with M of memory (S = M + T) and N persistent vectors.
// The parts are the profiler regions of models/allatt_layer.cpp, so the
// analytic numbers and the measured times line up row by row:
//
//   part          work per head (forward, multiply-add = 2)
//   qkv           q: 2 B T C D,  k and v: 2 B S C D each
//   position      r projection 2 S C D (shared by the batch), scores 2 B T S D
//   content       scores 2 B T S D
//   persistent    scores 2 B T N D
//   softmax       5 B T (S + N)            (max, subtract, exp, sum, divide)
//   weighted_sum  2 B T (S + N) D
//   output        2 B T D C                (the head's columns of the output projection)
// and per layer, whatever the head count: layernorm 8 B S C, and for the
// Transformer-XL baseline ffn 4 B T C F. Outside the layers: the output layer
// 2 B T C V plus the cross-entropy 4 B T V; with adaptive softmax the head
// 2 B T C (C + c_0 + K) and each tail i 2 R_i (C d_i + d_i V_i), plus the
// cross-entropies over c_0 + K and V_i columns (R_i: see outside_cost).
// Backward is twice the forward for the products (one product for each
// input's gradient), 4/5 of it for the softmax, 14/8 for the layernorm.
// Every number comes from autograd/op_costs.h, the functions the ops record
// in the profiler with, so the two agree by construction.
// Element-wise work (bias adds, dropout, permutes) is left out: few FLOPs,
// though not always little time, which is what the measured side shows.
#pragma once

#include <string>
#include <vector>

#include "models/allatt_lm.h"

namespace hc {

struct PartCost {
  std::string part;
  bool per_head = true;  // scales with the layer's head count
  double forward_flops = 0, backward_flops = 0;
  double forward_bytes = 0;  // float32 operands read and results written, nothing cached
};

// Layer `l` at its configured head count: per-head parts hold the cost of
// all its heads (divide by H for one head).
std::vector<PartCost> layer_cost(const AllAttConfig& c, int64_t l, int64_t B);
// The output layer and loss (the embedding lookup does no arithmetic).
std::vector<PartCost> outside_cost(const AllAttConfig& c, int64_t B);

// With fused_attention the layer's content, position (its scores), persistent,
// softmax and weighted_sum run as one op in one profiler region,
// "attention". Its measured time is shared out among those parts in
// proportion to the fused op's own work in each (cost::attention_phases:
// only the visible columns, the backward's recomputation included), forward
// and backward apart: the fraction of the op's forward (backward) FLOPs that
// each part does, summing to 1. Empty for a layer with no heads.
struct PartShare {
  std::string part;
  double forward = 0, backward = 0;
};
std::vector<PartShare> fused_attention_shares(const AllAttConfig& c, int64_t l, int64_t B);

// A FLOP budget as a head count: the most heads K whose model does at most
// `fraction` of the full model's forward FLOPs (a head costs the same in
// every layer of one config, so only the number kept matters, not where).
int64_t heads_within_flops(const AllAttConfig& c, double fraction);

}  // namespace hc
