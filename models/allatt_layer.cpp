// The All-attention layer, step by step. Shapes: B batch, T current tokens,
// M memory, S = M+T, H heads, D head width, N persistent vectors, C width.
// Queries, keys and values stay as the projections write them, token-major
// (B, ., H*D): head h is the column window h*D..h*D+D-1 of every row, and
// the attention ops read those windows in place. Only the scores and the
// probabilities are head-major, (H*B, T, .): item h*B + b is head h of
// sequence b, so that the position and persistent scores, whose right
// operand the whole batch shares, are one product per head over B*T rows.
#include "models/allatt_layer.h"

#include <cmath>

#include "engine/profiler.h"

namespace hc {

AllAttLayer::AllAttLayer(const std::string& p, AllAttLayerShape s, DType dt, Device dev)
    : shape_(s) {
  const int64_t HD = s.H * s.D;
  auto make = [&](const std::string& name, const Shape& shape) {
    return Variable(Tensor::empty(shape, dt, dev), true, p + name);
  };
  norm_w = make("norm.weight", {s.C});
  norm_b = make("norm.bias", {s.C});
  q_w = make("attn.q.weight", {HD, s.C});
  k_w = make("attn.k.weight", {HD, s.C});
  v_w = make("attn.v.weight", {HD, s.C});
  r_w = make("attn.r.weight", {HD, s.C});
  u_bias = make("attn.u_bias", {s.H, s.D});
  v_bias = make("attn.v_bias", {s.H, s.D});
  persist_k = make("attn.persist_k", {s.H, s.N, s.D});
  persist_v = make("attn.persist_v", {s.H, s.N, s.D});
  out_w = make("attn.out.weight", {s.C, HD});
  out_b = make("attn.out.bias", {s.C});
}

std::vector<Variable> AllAttLayer::parameters() const {
  if (shape_.H == 0) return {out_b};  // a layer with every head removed
  if (shape_.N == 0) return {norm_w, norm_b, q_w, k_w, v_w, r_w, u_bias, v_bias, out_w, out_b};  // the TXL baseline
  return {norm_w, norm_b, q_w, k_w, v_w, r_w, u_bias, v_bias, persist_k, persist_v, out_w, out_b};
}

Variable AllAttLayer::forward(const Variable& x, const Tensor& mem, const Variable& r_table,
                              const Variable& gate, const AllAttDropout& drop, bool training,
                              RngStream& rng) const {
  const int64_t B = x.size(0), T = x.size(1), H = shape_.H, D = shape_.D;
  // With every head removed the attention output is 0, and only the output
  // bias remains: out = x + dropout(out_b).
  if (H == 0) {
    check(x.value().dim() == 3 && x.size(2) == shape_.C, "all-attention layer: x must be (B,T,C)");
    Variable bias = add(Variable(Tensor::zeros(x.shape(), x.value().dtype(), x.value().device())), out_b);
    return add(x, dropout(bias, drop.residual, rng.per_stream(B, T * shape_.C), training));
  }
  Variable heads = attend(x, mem, r_table, drop, training, rng);  // (B,T,H*D)
  // The pruning gate multiplies each head's output (one number per head).
  if (gate.defined()) {
    const profiler::Region part("output");
    heads = reshape(mul(reshape(heads, {B, T, H, D}), reshape(gate, {H, 1})), {B, T, H * D});
  }
  return project(x, heads, drop, training, rng);
}

Variable AllAttLayer::attend(const Variable& x, const Tensor& mem, const Variable& r_table,
                             const AllAttDropout& drop, bool training, RngStream& rng) const {
  const int64_t B = x.size(0), T = x.size(1), C = shape_.C, H = shape_.H, D = shape_.D,
                N = shape_.N, M = mem.size(1), S = M + T;
  check(x.size(2) == C && mem.size(0) == B && mem.size(2) == C && r_table.size(0) == S,
        "all-attention layer: inputs do not match x (B,T,C), mem (B,M,C), r (S,C)");
  check(H > 0, "all-attention layer: attend needs at least one head");
  // Profiler regions name the parts of a head (engine/profiler.h); the
  // caller has opened "layer{i}". Off, each costs one branch. The attention
  // paths open their own, so this one closes before them.
  Variable q, k, v, r;
  {
    profiler::Region part("layernorm");
    // Pre-LayerNorm over [memory ; current]; queries only for the current tokens.
    const Variable cat = concat({Variable(mem), x}, 1);                  // (B,S,C)
    const Variable normed = layernorm(cat, norm_w, norm_b, shape_.eps);  // (B,S,C)
    part.next("qkv");
    q = reshape(linear(slice(normed, 1, M, S), q_w), {B, T, H, D});
    k = linear(normed, k_w);                  // (B,S,H*D)
    v = linear(normed, v_w);                  // (B,S,H*D)
    part.next("position");
    r = linear(r_table, r_w);                 // (S,H*D), the position rows
  }
  // Attention dropout's key: H slices of B streams over the (H*B,T,S+N)
  // probabilities, the same for both paths (the same masks, bit for bit).
  const RandomKey attn_key = rng.per_stream(B, T * (S + N));
  const double attn_p = training ? drop.attn : 0.0;
  return shape_.fused ? attend_fused(q, k, v, r, attn_p, attn_key)
                      : attend_unfused(q, k, v, r, attn_p, attn_key);  // (B,T,H*D)
}

// q (B,T,H,D), k v (B,S,H*D), r (S,H*D) -> (B,T,H*D), op by op: the
// readable reference of attend_fused, each step in its profiler region.
Variable AllAttLayer::attend_unfused(const Variable& q, const Variable& k, const Variable& v, const Variable& r,
                                     double attn_p, RandomKey attn_key) const {
  const int64_t B = q.size(0), T = q.size(1), S = k.size(1), M = S - T, H = shape_.H, D = shape_.D, N = shape_.N;
  // u and v are Transformer-XL's global content and position biases, added
  // to the query before the two kinds of scores.
  const Variable q_u = reshape(add(q, u_bias), {B, T, H * D});

  // Context logits: content (q+u)·k plus position (q+v)·r realigned by
  // distance, both over sqrt(D) (the GEMMs' alpha).
  const double inv_sqrt_d = 1.0 / std::sqrt(double(D));
  profiler::Region part("content");
  const Variable content = head_scores(q_u, k, H, inv_sqrt_d);    // (H*B,T,S)
  part.next("position");
  const Variable q_v = reshape(add(q, v_bias), {1, B * T, H * D});
  const Variable position =
      reshape(head_scores(q_v, reshape(r, {1, S, H * D}), H, inv_sqrt_d), {H * B, T, S});
  const Variable ctx_logits = add_rel_shift(content, position);

  // Persistent logits use the raw query: q · (sqrt(D) k_p) / sqrt(D) = q · k_p.
  // (N = 0, the TXL baseline, attends to the context alone.)
  part.next("persistent");
  const Variable logits = N == 0 ? ctx_logits : append_scores(ctx_logits, reshape(q, {B, T, H * D}), persist_k);

  // One softmax over [context ; persistent] columns. Query i sees context
  // columns i..i+M (itself and the M tokens before it: the same-length mask)
  // and every persistent vector; attention dropout in the same op.
  part.next("softmax");
  const Variable probs = masked_softmax(logits, BandMask{T, S, 0, M}, attn_p, attn_key);  // (H*B,T,S+N)

  // Weighted sum over [values ; sqrt(N) persistent values], token-major.
  part.next("weighted_sum");
  return weighted_sum(probs, v, N == 0 ? Variable() : persist_v, std::sqrt(double(N)));  // (B,T,H*D)
}

Variable AllAttLayer::project(const Variable& x, const Variable& heads, const AllAttDropout& drop, bool training,
                              RngStream& rng) const {
  const int64_t B = x.size(0), T = x.size(1), C = shape_.C;
  // The heads side by side are already the projection's input: project,
  // dropout, residual add to the un-normalised x.
  const profiler::Region part("output");
  const Variable projected = linear(heads, out_w, out_b);
  return add(x, dropout(projected, drop.residual, rng.per_stream(B, T * C), training));
}

// The same in one op (autograd/ops/attention.cpp), which never holds the
// (H*B,T,S+N) scores. `headcount profile` splits its one region into the
// parts above by their analytic shares (models/head_cost.h).
Variable AllAttLayer::attend_fused(const Variable& q, const Variable& k, const Variable& v, const Variable& r,
                                   double attn_p, RandomKey attn_key) const {
  const double D = double(shape_.D), N = double(shape_.N);
  const profiler::Region part("attention");
  const AttentionOperands x{reshape(q, {q.size(0), q.size(1), shape_.H * shape_.D}), k, v, r, u_bias, v_bias,
                            shape_.N == 0 ? Variable() : persist_k,
                            shape_.N == 0 ? Variable() : persist_v};
  return attention(x, AttentionOptions{1.0 / std::sqrt(D), std::sqrt(N), attn_p, attn_key});
}

}  // namespace hc
