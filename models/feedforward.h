// The position-wise feed-forward block of the Transformer-XL baseline
// (issue: the paper's comparison). The All-attention model has none: its
// persistent vectors play this part and belong to heads. A baseline layer is
// the same attention (with N = 0 persistent vectors) followed by this block,
// so pruning its heads leaves the FFN untouched, which is the seed paper's
// point: a TXL shrinks only in its attention when heads go.
//
//   out = x + dropout(W2 relu(W1 LN(x) + b1) + b2)     (pre-LayerNorm, like the attention)
#pragma once

#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/rng_stream.h"

namespace hc {

class FeedForward {
 public:
  // C model width, F inner width, eps the LayerNorm's; parameters
  // uninitialised (the LM does it).
  FeedForward(const std::string& prefix, int64_t C, int64_t F, double eps, DType dtype, Device device);

  // x (B,T,C) -> (B,T,C); `residual_dropout` on the block's output.
  Variable forward(const Variable& x, double residual_dropout, bool training, RngStream& rng) const;

  // Named parameters: layers.{i}.ffn.{norm.weight, norm.bias, in.weight, in.bias, out.weight, out.bias}.
  std::vector<Variable> parameters() const { return {norm_w, norm_b, in_w, in_b, out_w, out_b}; }

  Variable norm_w, norm_b;  // (C), (C)
  double eps = 1e-5;        // the LayerNorm's epsilon
  Variable in_w, in_b;      // (F, C), (F)
  Variable out_w, out_b;    // (C, F), (C)
};

}  // namespace hc
