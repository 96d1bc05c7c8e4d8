// The coarse ops of the engine. Each lives in autograd/ops/<name>.cpp with its
// forward and backward side by side. Dimension letters: B batch, T segment
// length, M memory, S = M+T, N persistent vectors, C model width, H heads,
// D head width, V vocabulary, L layers; R is "all leading dims flattened".
#pragma once

#include <vector>

#include "autograd/variable.h"
#include "engine/backend.h"

namespace hc {

// x (..., C) · w (OC, C)^T + b (OC) -> y (..., OC). `b` may be undefined (no bias).
Variable linear(const Variable& x, const Variable& w, const Variable& b = Variable());

// a (M,K) · b (K,N) -> (M,N); a transposed flag means the stored matrix is (K,M) / (N,K).
Variable matmul(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false);
// alpha · a (G,M,K) · b (G,K,N) -> (G,M,N), one product per batch item G. The
// scale rides on the GEMM (attention's 1/sqrt(D) costs no pass of its own).
Variable bmm(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false,
             double alpha = 1.0);

// Elementwise with one broadcast pattern: b's shape, aligned to the right of
// a's, may have size-1 dims, and its other dims form one contiguous block
// equal to a's dims there: a (R,C) + b (C); a (B,H,T,D) * b (H,1,1); b (1).
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
// alpha * x
Variable scale(const Variable& x, double alpha);

// Views and copies of layout.
Variable reshape(const Variable& x, const Shape& shape);             // a view, no copy
Variable permute(const Variable& x, const std::vector<int>& dims);   // a copy in the new order
Variable concat(const std::vector<Variable>& xs, int axis);          // a copy
Variable slice(const Variable& x, int axis, int64_t begin, int64_t end);  // a copy of [begin, end)

// Full reductions to a scalar (shape (1)).
Variable sum(const Variable& x);
Variable mean(const Variable& x);

// Normalisation, attention and loss.
// x (..., C), w (C), b (C) -> layernorm over the last axis.
Variable layernorm(const Variable& x, const Variable& w, const Variable& b, double eps = 1e-5);
// x (..., W) -> softmax over the last axis; masked logits get probability 0.
// With dropout_p > 0, the probabilities then go through dropout(.., p, key)
// (attention dropout), in the same op.
Variable masked_softmax(const Variable& x, BandMask mask = BandMask{}, double dropout_p = 0,
                        RandomKey key = RandomKey{});
// logits (R, V), targets (R) I64 -> mean over non-ignored rows of -log softmax[target].
// overwrite_logits: backward writes the gradient over the logits' values (an op's
// output only; never a leaf's). For a model's loss, whose logits nothing reads later.
Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index = -100,
                       bool overwrite_logits = false);
// table (V, C), ids (...) I64 -> (..., C).
Variable embedding(const Variable& table, const Tensor& ids);
// Inverted dropout: zero with probability p, scale the rest by 1/(1-p). The
// mask is a pure function of `key` (see engine/rng.h). Identity when !training or p == 0.
Variable dropout(const Variable& x, double p, RandomKey key, bool training = true);

// content (G, T, S) + the Transformer-XL relative shift of pos (G, T, S):
// pos holds scores against relative positions, column k <-> distance S-1-k,
// realigned so that y[g, i, j] = content[g, i, j] + pos[g, i, j + T-1-i]
// (query i, key j at distance M+i-j, M = S-T). Entries whose source falls
// outside the row (j > i+M) hold neighbouring-row values and must be masked
// by the caller, as in Transformer-XL.
Variable add_rel_shift(const Variable& content, const Variable& pos);

// Per-head scores from token-major operands: a (G,I,H*D), b (G,J,H*D) ->
// (H*G,I,J), item h*G + g = alpha a_g[:, h] b_g[:, h]^T, x[:, h] being the D
// columns of head h. Attention's content scores (G = B) and position scores
// (G = 1) without copying q, k or r into head-major order.
Variable head_scores(const Variable& a, const Variable& b, int64_t H, double alpha);

// [ctx (H*B,T,S) ; q_h (B*T,D) · keys_h (N,D)^T] -> (H*B,T,S+N), q (B,T,H*D)
// token-major: scores against keys shared by the batch (All-attention's
// persistent vectors), written beside each sequence's context scores.
Variable append_scores(const Variable& ctx, const Variable& q, const Variable& keys);

// probs (H*B,T,S+N) over [context ; persistent] columns times
// [v_h (B,S,D) ; pv_scale · pv_h (N,D)] -> (B,T,H*D): attention's weighted sum
// of values, head h's output in columns h*D.. of each row, v (B,S,H*D)
// token-major and the persistent values pv (H,N,D) shared by the batch. pv is
// undefined when N = 0.
Variable weighted_sum(const Variable& probs, const Variable& v, const Variable& pv, double pv_scale);

// All-attention in one op (autograd/ops/attention.cpp): what head_scores,
// add_rel_shift, append_scores, masked_softmax (mask and dropout included)
// and weighted_sum compute together in models/allatt_layer.cpp, without the
// (H*B,T,S+N) scores or probabilities in memory. Operands, token-major:
// q (B,T,H*D), k v (B,S,H*D), r (S,H*D) the projected position rows (row c
// <-> distance S-1-c), u vb (H,D) the content and position biases, pk pv
// (H,N,D) the persistent keys and values (undefined for N = 0). Returns
// (B,T,H*D). The dropout key cuts the (H*B,T,S+N) probabilities as
// masked_softmax's does, so the masks are the same bits.
struct AttentionOperands {
  Variable q, k, v, r, u, vb, pk, pv;
};
struct AttentionOptions {
  double alpha = 1.0;      // scale of the content and position scores (1/sqrt(D))
  double pv_scale = 1.0;   // the persistent values' multiplier (sqrt(N))
  double dropout_p = 0.0;  // attention dropout on the probabilities
  RandomKey key;
};
Variable attention(const AttentionOperands& x, const AttentionOptions& options);

// Hard-concrete gates (Louizos et al. 2018; docs/spec.md section 5): one
// gate per head. The constants are the seed paper's.
struct HardConcrete {
  double beta = 0.333;   // temperature
  double gamma = -0.1;   // stretch interval (gamma, zeta)
  double zeta = 1.1;
};
// log_alpha (H) -> z (H) in {0, 1}. Training: one noise draw per head from
// `key`, z = 1[stretched sample >= 0.5], gradient straight through the soft
// sample. Evaluation: z = 1[log_alpha >= 0], no noise, no gradient.
Variable hard_concrete_gate(const Variable& log_alpha, RandomKey key, bool training,
                            HardConcrete hc = HardConcrete{});
// log_alpha (H) -> (1): the expected number of open gates, sum_h P(z_h != 0).
Variable l0_penalty(const Variable& log_alpha, HardConcrete hc = HardConcrete{});
// log_alpha (H) -> (1): P(some gate of the layer open) = 1 - prod_h (1 - P(z_h != 0)),
// the gates independent; what a layer's fixed time is paid with (cost-aware L0).
Variable layer_open_probability(const Variable& log_alpha, HardConcrete hc = HardConcrete{});
// P(z_h != 0) for each head, as plain numbers (for logs and heatmaps).
std::vector<double> open_probability(const Tensor& log_alpha, HardConcrete hc = HardConcrete{});
// Straight-through top-K (the `topk` pruning method): logits, one (H_l) per
// layer -> gates (H_l) per layer, 1 for the K largest logits over all layers
// and 0 elsewhere; backward through sigmoid(s) as a surrogate.
std::vector<Variable> topk_gates(const std::vector<Variable>& logits, int64_t K);

// Activations.
Variable relu(const Variable& x);
Variable gelu(const Variable& x);  // exact erf form

}  // namespace hc
