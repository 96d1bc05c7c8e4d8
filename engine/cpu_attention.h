// The CPU's fused All-attention: Backend::attention_forward and
// attention_backward (engine/backend.h, AttentionCall) without the (H*B, T,
// S+N) logits and probabilities in memory. The forward keeps, per query row,
// its log-sum-exp and its dropout bits; the backward recomputes each row's
// probabilities from them (the algorithm: docs/autograd.md, "Fused attention").
//
// Two implementations of the same definition, as everywhere in the CPU
// backend (docs/cpu-kernels.md):
// - the plain loops (cpu::plain:: here, engine/cpu_attention.cpp): one query
//   row at a time, its whole row of scores in a buffer, one dot product per
//   score; the reference, float32 and float64;
// - the blocks (engine/cpu_tuned/attention.h): 32 query rows at a time,
//   their scores, probabilities and gradients as small matrix products on
//   buffers that stay in cache; what attention_forward and
//   attention_backward run, in both float types.
// tests/test_fused_attention.cpp checks one against the other.
//
// What both share lives here: the raw view of a call, the record's layout,
// the dropout bits, and the backward's split into tasks with its partial sums.
//
// Threads: the forward runs one task per (head, sequence). The backward's
// gradients of the operands the batch shares (r, u, vb, pk, pv) are summed
// over sequences, so its tasks are (head, group of sequences), a fixed number
// of groups that depends on B alone; each task sums into its own partial
// buffers, which are then added up group by group in order. Every sum runs in
// an order fixed by the shapes, so results are the same bits at any thread
// count.
#pragma once

#include <cstdint>
#include <functional>

#include "engine/backend.h"

namespace hc::cpu {

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out);
void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                        const AttentionRecord& record, const AttentionGrads& grads);

namespace plain {
AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out);
void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                        const AttentionRecord& record, const AttentionGrads& grads);
}  // namespace plain

// One call on raw pointers, in float type F (float or double). The visible
// columns of query row i are numbered t = 0..V-1, V = M+1+N: t <= M is the
// context column j = i+t (distance M-t, position row T-1+t of r), t > M the
// persistent column n = t-M-1. Pointers are to element 0 of each tensor.
template <typename F>
struct AttentionArgs {
  int64_t B = 0, T = 0, M = 0, S = 0, H = 0, D = 0, N = 0, HD = 0, V = 0, W = 0;  // W = S+N
  F alpha = 1, pv_scale = 1;
  const F *q = nullptr, *k = nullptr, *v = nullptr, *r = nullptr, *u = nullptr, *vb = nullptr, *pk = nullptr,
          *pv = nullptr;
  F* out = nullptr;         // (B,T,H*D)
  const F* dout = nullptr;  // (B,T,H*D), the backward's incoming gradient
  F* lse = nullptr;         // (H*B, T): each row's log-sum-exp of its visible scores
  // Dropout: the record holds `words` 64-bit words per row, bit t set where
  // visible column t is kept; null without dropout.
  uint64_t* kept = nullptr;
  int64_t words = 0;
  float p = 0;
  F keep = 1;               // 1/(1-p), the multiplier of a kept probability
  RandomKey key;

  const F* q_row(int64_t h, int64_t b, int64_t i) const { return q + (b * T + i) * HD + h * D; }
  const F* k_row(int64_t h, int64_t b, int64_t j) const { return k + (b * S + j) * HD + h * D; }
  const F* v_row(int64_t h, int64_t b, int64_t j) const { return v + (b * S + j) * HD + h * D; }
  const F* r_row(int64_t h, int64_t t) const { return r + (T - 1 + t) * HD + h * D; }  // distance M-t
  int64_t row_of(int64_t h, int64_t b, int64_t i) const { return (b * T + i) * HD + h * D; }  // out, dout, q
  uint64_t* kept_row(int64_t h, int64_t b, int64_t i) const { return kept + ((h * B + b) * T + i) * words; }
  // The multiplier of visible column t of a row: keep where its bit is set, else 0.
  F mult(const uint64_t* row, int64_t t) const { return kept ? ((row[t >> 6] >> (t & 63)) & 1 ? keep : F(0)) : F(1); }
};

// The raw view of `call`, its output and the forward's record (lse, and the
// dropout bits when dropout_p > 0), checking the record's shape.
template <typename F>
AttentionArgs<F> attention_args(const AttentionCall& call, const Tensor& out, const AttentionRecord& record);
// A forward's record for `call`: lse (H*B, T) and the bit words, uninitialised.
AttentionRecord attention_record(const AttentionCall& call);

// Sets the bits of row (g, i) of the record (g = h*B + b), `words` words that
// start zeroed: bit t where visible column t is kept, drawn from the Philox
// numbers that dropout_mask gives element (g, i, j) of the (G, T, S+N)
// probabilities (j = i+t for the context, S+n for persistent column n).
template <typename F>
void draw_kept(const AttentionArgs<F>& a, int64_t h, int64_t b, int64_t i, uint64_t* row);

// The backward's per-sequence gradient targets on raw pointers (null: not
// wanted), each written into its window or added to it.
template <typename F>
struct AttentionGradArgs {
  F *dq = nullptr, *dk = nullptr, *dv = nullptr;  // (B,T,H*D), (B,S,H*D), (B,S,H*D)
  bool acc_q = false, acc_k = false, acc_v = false;
};
// One backward task's partial sums for its head, zeroed before the task:
// the gradients of the M+1 rows of r the window sees (M+1, D; row t is r's
// row T-1+t), of u and vb (D), and of pk and pv (N, D).
template <typename F>
struct AttentionPartials {
  F *dr = nullptr, *du = nullptr, *dvb = nullptr, *dpk = nullptr, *dpv = nullptr;
};
// The backward's driver, shared by the loops and the tiles: task(h, b0, b1,
// targets, partials) computes head h of sequences b0..b1-1, writing or adding
// dq, dk and dv into their windows and summing the shared gradients into the
// partials; then the partials are added up, group by group in order, into the
// targets of r, u, vb, pk and pv.
template <typename F>
using AttentionTask = std::function<void(int64_t h, int64_t b0, int64_t b1, const AttentionGradArgs<F>& targets,
                                         const AttentionPartials<F>& partials)>;
template <typename F>
void attention_backward_tasks(const AttentionArgs<F>& a, const AttentionGrads& grads, const AttentionTask<F>& task);

}  // namespace hc::cpu
