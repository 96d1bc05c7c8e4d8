// Fused All-attention in blocks of query rows (engine/cpu_tuned/attention.h).
// Shapes as there: Q rows of a block, W = Q+M keys in its window, V = M+1+N
// visible columns of a row (t <= M: key i+t, position row T-1+t; t > M:
// persistent vector t-M-1).
//
// Every product is C = alpha op(A) B + beta C with B stored row-major (K, N),
// which is the form small_gemm's kernel reads in place. An operand that a
// product wants as B^T is transposed first: a block's windows of keys and
// values, and once per call each head's position rows and persistent vectors.
#include "engine/cpu_tuned/attention.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/cpu_attention.h"
#include "engine/cpu_backend.h"
#include "engine/cpu_tuned/exp_nonpositive.h"
#include "engine/cpu_tuned/small_gemm.h"
#include "engine/cpu_util.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace hc::cpu::tuned {

namespace {

// Query rows per block. More rows make each product longer (the gradients
// of k, v, r and the persistent vectors sum over the block's rows) and the
// per-block work (a window's transposes) rarer; fewer waste less of the
// content products on the window's corners outside the band (Q-1 of every
// Q+M columns). 32 was the fastest of 16, 24, 32 and 64 for moby-char-small's
// training step; a block's (Q, Q+M+N) float32 scores still fit in L2.
constexpr int64_t kQueryBlock = 32;

// C (m,n) = alpha op(A) B + beta C, B (k,n) row-major with row stride ldb;
// op(A) is A (m,k), or A stored (k,m) when ta. In float32 with AVX-512 this
// is small_gemm's register-blocked kernel, which reads both operands in
// place: Eigen packs them for every call, and at these sizes (32 x 96 x 32)
// the packing is most of a product's time. Otherwise Eigen (plain::gemm).
template <typename F>
void product(bool ta, int64_t m, int64_t n, int64_t k, F alpha, const F* a, int64_t lda, const F* b, int64_t ldb,
             F beta, F* c, int64_t ldc) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<F, float>) {
    small_gemm::gemm(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  plain::gemm(Product<F>{ta, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

// out (cols, rows) = the (rows, cols) matrix at `in` (row stride ld), transposed.
template <typename F>
void transpose(const F* in, int64_t ld, int64_t rows, int64_t cols, F* out) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<F, float>) {
    small_gemm::transpose(in, ld, rows, cols, out);
    return;
  }
#endif
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[j * rows + i] = in[i * ld + j];
}

// m (V) = the row's dropout multipliers: value where bit t of kept is set,
// else 0. With AVX-512, 16 bits of a word at a time pick a vector's lanes.
template <typename F>
void row_multipliers(const uint64_t* kept, int64_t V, F value, F* m) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<F, float>) {
    const __m512 v = _mm512_set1_ps(value);
    for (int64_t t = 0; t < V; t += 16) {
      const auto bits = static_cast<__mmask16>(kept[t >> 6] >> (t & 63));
      const auto inside = static_cast<__mmask16>(V - t >= 16 ? 0xffff : (1u << (V - t)) - 1);
      _mm512_mask_storeu_ps(m + t, inside, _mm512_maskz_mov_ps(bits, v));
    }
    return;
  }
#endif
  for (int64_t t = 0; t < V; ++t) m[t] = (kept[t >> 6] >> (t & 63)) & 1 ? value : F(0);
}

// y (n) += the sum of the `rows` rows of x (rows, n).
template <typename F>
void add_column_sums(const F* x, int64_t rows, int64_t n, F* y) {
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t d = 0; d < n; ++d) y[d] += x[r * n + d];
}

// What every sequence of a head shares, transposed once per call: the head's
// M+1 position rows of r (D, M+1), its persistent keys and values (D, N).
template <typename F>
struct HeadOperands {
  int64_t D, M1, N;
  std::vector<F> data;  // per head: rt, then pkt, then pvt

  explicit HeadOperands(const AttentionArgs<F>& a)
      : D(a.D), M1(a.M + 1), N(a.N), data(a.H * a.D * (a.M + 1 + 2 * a.N)) {
    for (int64_t h = 0; h < a.H; ++h) {
      F* at = data.data() + h * D * (M1 + 2 * N);  // rt(h), writable
      transpose(a.r_row(h, 0), a.HD, M1, D, at);
      if (N == 0) continue;
      transpose(a.pk + h * N * D, D, N, D, at + D * M1);
      transpose(a.pv + h * N * D, D, N, D, at + D * (M1 + N));
    }
  }
  const F* rt(int64_t h) const { return data.data() + h * D * (M1 + 2 * N); }
  const F* pkt(int64_t h) const { return rt(h) + D * M1; }
  const F* pvt(int64_t h) const { return pkt(h) + D * N; }
};

// One block, head h, sequence b, rows i0..i0+Q-1, and its buffers (sized for
// the largest Q and reused block after block): its scores, then its
// probabilities, in s (Q, V).
template <typename F>
struct Block {
  const AttentionArgs<F>& a;
  const HeadOperands<F>& heads;
  int64_t h = 0, b = 0, i0 = 0, Q = 0;
  std::vector<F> qu, qv, kt, content, position, s, z_band;  // (Q,D) (Q,D) (D,W) (Q,W) (Q,M+1) (Q,V) (Q,W)
  std::vector<F> m;                                         // (V): a row's dropout multipliers

  Block(const AttentionArgs<F>& args, const HeadOperands<F>& ops)
      : a(args), heads(ops), qu(kQueryBlock * a.D), qv(qu.size()), kt(a.D * (kQueryBlock + a.M)),
        content(kQueryBlock * (kQueryBlock + a.M)), position(kQueryBlock * (a.M + 1)), s(kQueryBlock * a.V),
        z_band(content.size()), m(a.V) {}
  int64_t W() const { return Q + a.M; }
  // Rows of a token-major tensor (row stride H*D) at the block: q, out, dout.
  const F* rows_of(const F* base) const { return base + a.row_of(h, b, i0); }
  const F* keys() const { return a.k_row(h, b, i0); }    // (W, D), stride H*D
  const F* values() const { return a.v_row(h, b, i0); }  // (W, D), stride H*D
  const uint64_t* kept(int64_t r) const { return a.kept ? a.kept_row(h, b, i0 + r) : nullptr; }
  F lse(int64_t r) const { return a.lse[(h * a.B + b) * a.T + i0 + r]; }

  // s (Q, V) = the visible scores of the block's rows:
  //   content (Q, W) = (q+u) K_window^T,  position (Q, M+1) = (q+vb) R^T,
  //   s[r, t] = alpha (content[r, r+t] + position[r, t]) for t <= M (the band),
  //   s[r, M+1..] = q Pk^T.
  void scores() {
    const int64_t M = a.M, D = a.D, V = a.V, Wn = W();
    const F* q = rows_of(a.q);
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t d = 0; d < D; ++d) {
        qu[r * D + d] = q[r * a.HD + d] + a.u[h * D + d];
        qv[r * D + d] = q[r * a.HD + d] + a.vb[h * D + d];
      }
    transpose(keys(), a.HD, Wn, D, kt.data());
    product<F>(false, Q, Wn, D, 1, qu.data(), D, kt.data(), Wn, 0, content.data(), Wn);
    product<F>(false, Q, M + 1, D, 1, qv.data(), D, heads.rt(h), M + 1, 0, position.data(), M + 1);
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t t = 0; t <= M; ++t)
        s[r * V + t] = a.alpha * (content[r * Wn + r + t] + position[r * (M + 1) + t]);
    if (a.N > 0) product<F>(false, Q, a.N, D, 1, q, a.HD, heads.pkt(h), a.N, 0, s.data() + M + 1, V);
  }
};

// Forward of one block: scores, each row's softmax (its log-sum-exp kept),
// dropout bits drawn, and out's rows = Z_band V_window + pv_scale Z_pers Pv.
template <typename F>
void forward_block(Block<F>& blk) {
  const AttentionArgs<F>& a = blk.a;
  blk.scores();
  const int64_t Q = blk.Q, M = a.M, V = a.V, Wn = blk.W();
  std::fill(blk.z_band.begin(), blk.z_band.begin() + Q * Wn, F(0));
  for (int64_t r = 0; r < Q; ++r) {
    F* s = blk.s.data() + r * V;
    F mx = s[0], sum = 0;
#pragma omp simd reduction(max : mx)
    for (int64_t t = 1; t < V; ++t) mx = s[t] > mx ? s[t] : mx;
#pragma omp simd reduction(+ : sum)
    for (int64_t t = 0; t < V; ++t) sum += s[t] = exp_nonpositive(s[t] - mx);
    a.lse[(blk.h * a.B + blk.b) * a.T + blk.i0 + r] = mx + std::log(sum);
    const F inv = F(1) / sum;
    if (a.kept) {  // z = p m: m = 1/(1-p) where the bit is set, else 0
      uint64_t* kept = a.kept_row(blk.h, blk.b, blk.i0 + r);
      std::fill(kept, kept + a.words, uint64_t{0});
      draw_kept(a, blk.h, blk.b, blk.i0 + r, kept);
      F* m = blk.m.data();
      row_multipliers(kept, V, inv * a.keep, m);
#pragma omp simd
      for (int64_t t = 0; t < V; ++t) s[t] *= m[t];
    } else {
#pragma omp simd
      for (int64_t t = 0; t < V; ++t) s[t] *= inv;
    }
    std::copy(s, s + M + 1, blk.z_band.data() + r * Wn + r);
  }
  F* out = a.out + a.row_of(blk.h, blk.b, blk.i0);
  product<F>(false, Q, a.D, Wn, 1, blk.z_band.data(), Wn, blk.values(), a.HD, 0, out, a.HD);
  if (a.N > 0)
    product<F>(false, Q, a.D, a.N, a.pv_scale, blk.s.data() + M + 1, V, a.pv + blk.h * a.N * a.D, a.D, 1, out, a.HD);
}

// A backward task's buffers: a block's gradients, and one sequence's dk and
// dv windows (S, D), summed over its blocks.
template <typename F>
struct BackwardBuffers {
  std::vector<F> vt, dz_band, ds_band, ds_pos, dz_pers, ds_pers, dq, dq_pos;  // vt (D,W); block-sized
  std::vector<F> dk, dv;                                                      // (S, D)
  explicit BackwardBuffers(const AttentionArgs<F>& a)
      : vt(a.D * (kQueryBlock + a.M)), dz_band(kQueryBlock * (kQueryBlock + a.M)), ds_band(dz_band.size()),
        ds_pos(kQueryBlock * (a.M + 1)), dz_pers(kQueryBlock * a.N), ds_pers(dz_pers.size()),
        dq(kQueryBlock * a.D), dq_pos(dq.size()), dk(a.S * a.D), dv(dk.size()) {}
};

// Row r's softmax-and-dropout backward: from its recomputed probabilities
// p (s's row) and dz (dout against each visible value), the dropped-out
// probabilities z = p m into z_band and s's persistent columns, and the
// scores' gradients ds = p (m dz - Delta) (times alpha on the band, where the
// scores were scaled) into ds_band, ds_pos and ds_pers.
template <typename F>
void backward_row(Block<F>& blk, BackwardBuffers<F>& w, int64_t r, F delta) {
  const AttentionArgs<F>& a = blk.a;
  const int64_t M = a.M, N = a.N, Wn = blk.W();
  F* m = blk.m.data();
  if (a.kept) row_multipliers(blk.kept(r), a.V, a.keep, m);
  else std::fill(m, m + a.V, F(1));
  F* s = blk.s.data() + r * a.V;
  const F lse = blk.lse(r);
#pragma omp simd
  for (int64_t t = 0; t < a.V; ++t) s[t] = exp_nonpositive(s[t] - lse);  // p, from the row statistic
  const F* dz = w.dz_band.data() + r * Wn + r;
  F *z = blk.z_band.data() + r * Wn + r, *ds_band = w.ds_band.data() + r * Wn + r;
  F* ds_pos = w.ds_pos.data() + r * (M + 1);
#pragma omp simd
  for (int64_t t = 0; t <= M; ++t) {
    const F ds = a.alpha * s[t] * (m[t] * dz[t] - delta);
    z[t] = s[t] * m[t];
    ds_band[t] = ds;
    ds_pos[t] = ds;
  }
  F *p_pers = s + M + 1, *m_pers = m + M + 1, *ds_pers = w.ds_pers.data() + r * N;
  const F* dz_pers = w.dz_pers.data() + r * N;
#pragma omp simd
  for (int64_t n = 0; n < N; ++n) {
    ds_pers[n] = p_pers[n] * (m_pers[n] * dz_pers[n] - delta);
    p_pers[n] *= m_pers[n];
  }
}

// Backward of one block, with the sequence's dk, dv and the task's partial
// sums (shared gradients) as targets. dq is written or added in place.
template <typename F>
void backward_block(Block<F>& blk, BackwardBuffers<F>& w, const AttentionGradArgs<F>& g,
                    const AttentionPartials<F>& part) {
  const AttentionArgs<F>& a = blk.a;
  blk.scores();
  const int64_t Q = blk.Q, M = a.M, N = a.N, V = a.V, D = a.D, HD = a.HD, Wn = blk.W(), h = blk.h;
  const F *dout = blk.rows_of(a.dout), *out = blk.rows_of(a.out), *q = blk.rows_of(a.q);
  // dz = dout [V_window ; pv_scale Pv]^T: the gradient of the dropped-out probabilities.
  transpose(blk.values(), HD, Wn, D, w.vt.data());
  product<F>(false, Q, Wn, D, 1, dout, HD, w.vt.data(), Wn, 0, w.dz_band.data(), Wn);
  if (N > 0) product<F>(false, Q, N, D, a.pv_scale, dout, HD, blk.heads.pvt(h), N, 0, w.dz_pers.data(), N);
  std::fill(blk.z_band.begin(), blk.z_band.begin() + Q * Wn, F(0));
  std::fill(w.ds_band.begin(), w.ds_band.begin() + Q * Wn, F(0));
  for (int64_t r = 0; r < Q; ++r) {
    F delta = 0;  // Delta = dout_i . out_i
    for (int64_t d = 0; d < D; ++d) delta += dout[r * HD + d] * out[r * HD + d];
    backward_row(blk, w, r, delta);
  }
  // Values: dv_window += Z_band^T dout, dpv += pv_scale Z_pers^T dout.
  product<F>(true, Wn, D, Q, 1, blk.z_band.data(), Wn, dout, HD, 1, w.dv.data() + blk.i0 * D, D);
  if (N > 0) product<F>(true, N, D, Q, a.pv_scale, blk.s.data() + M + 1, V, dout, HD, 1, part.dpv, D);
  // Queries: dq = ds_band K_window + ds_pos R + ds_pers Pk; u and vb take
  // the column sums of the first two parts.
  product<F>(false, Q, D, Wn, 1, w.ds_band.data(), Wn, blk.keys(), HD, 0, w.dq.data(), D);
  add_column_sums(w.dq.data(), Q, D, part.du);
  product<F>(false, Q, D, M + 1, 1, w.ds_pos.data(), M + 1, a.r_row(h, 0), HD, 0, w.dq_pos.data(), D);
  add_column_sums(w.dq_pos.data(), Q, D, part.dvb);
  for (int64_t e = 0; e < Q * D; ++e) w.dq[e] += w.dq_pos[e];
  if (N > 0) product<F>(false, Q, D, N, 1, w.ds_pers.data(), N, a.pk + h * N * D, D, 1, w.dq.data(), D);
  if (g.dq) {
    F* dq = g.dq + a.row_of(h, blk.b, blk.i0);
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t d = 0; d < D; ++d) dq[r * HD + d] = (g.acc_q ? dq[r * HD + d] : F(0)) + w.dq[r * D + d];
  }
  // Keys: dk_window += ds_band^T (q+u), dr += ds_pos^T (q+vb), dpk += ds_pers^T q.
  product<F>(true, Wn, D, Q, 1, w.ds_band.data(), Wn, blk.qu.data(), D, 1, w.dk.data() + blk.i0 * D, D);
  product<F>(true, M + 1, D, Q, 1, w.ds_pos.data(), M + 1, blk.qv.data(), D, 1, part.dr, D);
  if (N > 0) product<F>(true, N, D, Q, 1, w.ds_pers.data(), N, q, HD, 1, part.dpk, D);
}

// dst's window (S rows of D, row stride H*D) = (accumulate ? dst : 0) + src (S, D).
template <typename F>
void write_window(F* dst, bool accumulate, const F* src, int64_t S, int64_t D, int64_t HD) {
  for (int64_t j = 0; j < S; ++j)
    for (int64_t d = 0; d < D; ++d) dst[j * HD + d] = (accumulate ? dst[j * HD + d] : F(0)) + src[j * D + d];
}

// The tasks' blocks of rows: block `k` of T rows is rows k*Q .. min(T, (k+1)*Q)-1.
inline int64_t blocks_of(int64_t T) { return (T + kQueryBlock - 1) / kQueryBlock; }

}  // namespace

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out) {
  const AttentionRecord record = attention_record(call);
  by_float_type(call.q.dtype(), "attention_forward", [&](auto zero) {
    using F = decltype(zero);
    const AttentionArgs<F> a = attention_args<F>(call, out, record);
    const HeadOperands<F> heads(a);
    const int64_t nb = blocks_of(a.T);
    // One task per (head, sequence, block of rows); each writes its own rows.
#pragma omp parallel
    {
      Block<F> blk(a, heads);  // the thread's buffers, reused block after block
#pragma omp for schedule(static)
      for (int64_t task = 0; task < a.H * a.B * nb; ++task) {
        const int64_t g = task / nb;
        blk.h = g / a.B, blk.b = g % a.B, blk.i0 = task % nb * kQueryBlock;
        blk.Q = std::min(kQueryBlock, a.T - blk.i0);
        forward_block(blk);
      }
    }
  });
  return record;
}

void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                        const AttentionRecord& record, const AttentionGrads& grads) {
  by_float_type(call.q.dtype(), "attention_backward", [&](auto zero) {
    using F = decltype(zero);
    AttentionArgs<F> a = attention_args<F>(call, out, record);
    check(dout.shape() == out.shape(), "attention_backward: dout must have out's shape");
    a.dout = ptr<F>(dout);
    const HeadOperands<F> heads(a);
    attention_backward_tasks<F>(a, grads, [&a, &heads](int64_t h, int64_t b0, int64_t b1,
                                                       const AttentionGradArgs<F>& g, const AttentionPartials<F>& part) {
      BackwardBuffers<F> w(a);
      Block<F> blk(a, heads);
      blk.h = h;
      for (int64_t b = b0; b < b1; ++b) {
        std::fill(w.dk.begin(), w.dk.end(), F(0));
        std::fill(w.dv.begin(), w.dv.end(), F(0));
        for (int64_t i0 = 0; i0 < a.T; i0 += kQueryBlock) {
          blk.b = b, blk.i0 = i0, blk.Q = std::min(kQueryBlock, a.T - i0);
          backward_block(blk, w, g, part);
        }
        // The sequence's dk and dv windows, written or added.
        if (g.dk) write_window(g.dk + b * a.S * a.HD + h * a.D, g.acc_k, w.dk.data(), a.S, a.D, a.HD);
        if (g.dv) write_window(g.dv + b * a.S * a.HD + h * a.D, g.acc_v, w.dv.data(), a.S, a.D, a.HD);
      }
    });
  });
}

}  // namespace hc::cpu::tuned
