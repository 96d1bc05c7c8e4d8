// One All-attention layer (Sukhbaatar et al. 2019, as used by Shim et al.
// 2021; docs/spec.md section 2): relative-position
// multi-head attention over [memory ; current tokens] and over N persistent
// key/value vectors per head, in one joint softmax. There is no feed-forward
// block: the persistent vectors take its place, and they belong to heads, so
// removing a head removes its share of everything.
#pragma once

#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/rng_stream.h"

namespace hc {

struct AllAttLayerShape {
  int64_t C = 0;  // model width
  int64_t H = 0;  // heads in this layer (a compacted layer may have fewer, or 0)
  int64_t D = 0;  // head width
  int64_t N = 0;  // persistent vectors per head
  double eps = 1e-5;  // the LayerNorm's epsilon
  bool fused = false;  // attention in one op (attend_fused) rather than op by op
};

struct AllAttDropout {
  double attn = 0.0;      // on the attention probabilities
  double residual = 0.0;  // on the output projection, before the residual add
};

class AllAttLayer {
 public:
  // Parameters are created uninitialised; the LM initialises them.
  AllAttLayer(const std::string& prefix, AllAttLayerShape shape, DType dtype, Device device);

  // x (B,T,C) this layer's input, mem (B,M,C) its input from the previous
  // segment (no gradient), r_table (S,C) the shared relative-position rows for
  // distances S-1..0, gate (H) or undefined -> (B,T,C).
  Variable forward(const Variable& x, const Tensor& mem, const Variable& r_table,
                   const Variable& gate, const AllAttDropout& dropout, bool training,
                   RngStream& rng) const;
  // forward in two halves, for callers that look at the heads' outputs
  // (models/methods/spatten.cpp). attend: x (B,T,C), mem (B,M,C), r_table
  // (S,C) -> the heads' outputs side by side (B,T,H*D), head h in columns
  // h*D..h*D+D-1 (needs H > 0). project: x (B,T,C), heads (B,T,H*D) -> x +
  // dropout(heads out_w^T + out_b) (B,T,C).
  Variable attend(const Variable& x, const Tensor& mem, const Variable& r_table, const AllAttDropout& dropout,
                  bool training, RngStream& rng) const;
  Variable project(const Variable& x, const Variable& heads, const AllAttDropout& dropout, bool training,
                   RngStream& rng) const;

  // Named parameters, in checkpoint naming (layers.{i}.attn.q.weight, ...).
  std::vector<Variable> parameters() const;
  const AllAttLayerShape& shape() const { return shape_; }

  Variable norm_w, norm_b;                // (C), (C)
  Variable q_w, k_w, v_w, r_w;            // (H*D, C) each, no bias
  Variable u_bias, v_bias;                // (H, D): content and position biases
  Variable persist_k, persist_v;          // (H, N, D)
  Variable out_w, out_b;                  // (C, H*D), (C)

 private:
  // Attention proper, between the projections and the gate: q (B,T,H,D),
  // k v (B,S,H*D), r (S,H*D) -> (B,T,H*D). Two paths, the same numbers.
  Variable attend_unfused(const Variable& q, const Variable& k, const Variable& v, const Variable& r, double attn_p,
                          RandomKey attn_key) const;
  Variable attend_fused(const Variable& q, const Variable& k, const Variable& v, const Variable& r, double attn_p,
                        RandomKey attn_key) const;

  AllAttLayerShape shape_;
};

}  // namespace hc
