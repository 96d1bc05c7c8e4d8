// Fused All-attention in blocks of query rows (engine/cpu_tuned/attention.h).
// Shapes as there: Q rows of a block, W = Q+M keys in its window, V = M+1+N
// visible columns of a row (t <= M: key i+t, position row T-1+t; t > M:
// persistent vector t-M-1).
#include "engine/cpu_tuned/attention.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "engine/cpu_attention.h"
#include "engine/cpu_tuned/exp_nonpositive.h"
#include "engine/cpu_util.h"

namespace hc::cpu::tuned {

namespace {

// Query rows per block: a block's (Q, Q+M+N) scores in float32 fit in L1 at
// moby-char-small's M = 64, N = 128, and 16 rows fill a 512-bit register's
// lanes once per column in Eigen's kernels.
constexpr int64_t kQueryBlock = 16;

template <typename F>
using Mat = Eigen::Matrix<F, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// D-wide rows of a token-major tensor (row stride H*D), read in place.
template <typename F>
using Rows = Eigen::Map<const Mat<F>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename F>
using RowsOut = Eigen::Map<Mat<F>, Eigen::Unaligned, Eigen::OuterStride<>>;

// One block's operands and scores: head h, sequence b, rows i0..i0+Q-1.
template <typename F>
struct Block {
  const AttentionArgs<F>& a;
  int64_t h, b, i0, Q;
  Mat<F> qu, qv;              // (Q, D): q+u, q+vb
  Mat<F> content, position;   // (Q, W), (Q, M+1): the raw products
  Mat<F> s;                   // (Q, V): the visible scores, then probabilities

  int64_t W() const { return Q + a.M; }
  Rows<F> q() const { return {a.q + a.row_of(h, b, i0), Q, a.D, Eigen::OuterStride<>(a.HD)}; }
  Rows<F> keys() const { return {a.k_row(h, b, i0), W(), a.D, Eigen::OuterStride<>(a.HD)}; }
  Rows<F> values() const { return {a.v_row(h, b, i0), W(), a.D, Eigen::OuterStride<>(a.HD)}; }
  Rows<F> r() const { return {a.r_row(h, 0), a.M + 1, a.D, Eigen::OuterStride<>(a.HD)}; }
  Rows<F> pk() const { return {a.pk + h * a.N * a.D, a.N, a.D, Eigen::OuterStride<>(a.D)}; }
  Rows<F> pv() const { return {a.pv + h * a.N * a.D, a.N, a.D, Eigen::OuterStride<>(a.D)}; }
  Rows<F> rows_of(const F* base) const { return {base + a.row_of(h, b, i0), Q, a.D, Eigen::OuterStride<>(a.HD)}; }
  const uint64_t* kept(int64_t r) const { return a.kept ? a.kept_row(h, b, i0 + r) : nullptr; }

  // s (Q, V) = the visible scores of the block's rows.
  void scores() {
    const int64_t M = a.M, D = a.D;
    const Eigen::Map<const Eigen::Matrix<F, 1, Eigen::Dynamic>> u(a.u + h * D, D), vb(a.vb + h * D, D);
    qu = q().rowwise() + u;
    qv = q().rowwise() + vb;
    content.noalias() = qu * keys().transpose();
    position.noalias() = qv * r().transpose();
    s.resize(Q, a.V);
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t t = 0; t <= M; ++t) s(r, t) = a.alpha * (content(r, r + t) + position(r, t));
    if (a.N > 0) s.rightCols(a.N).noalias() = q() * pk().transpose();
  }
};

// Forward of one block: scores, each row's softmax (its log-sum-exp kept),
// dropout bits drawn, and out's rows = Z_band V_window + pv_scale Z_pers Pv.
template <typename F>
void forward_block(Block<F>& blk, Mat<F>& z_band) {
  const AttentionArgs<F>& a = blk.a;
  blk.scores();
  const int64_t Q = blk.Q, M = a.M, V = a.V;
  z_band.setZero(Q, blk.W());
  for (int64_t r = 0; r < Q; ++r) {
    F* s = &blk.s(r, 0);
    F mx = s[0], sum = 0;
    for (int64_t t = 1; t < V; ++t) mx = std::max(mx, s[t]);
#pragma omp simd reduction(+ : sum)
    for (int64_t t = 0; t < V; ++t) sum += s[t] = exp_nonpositive(s[t] - mx);
    a.lse[(blk.h * a.B + blk.b) * a.T + blk.i0 + r] = mx + std::log(sum);
    uint64_t* kept = nullptr;
    if (a.kept) {
      kept = a.kept_row(blk.h, blk.b, blk.i0 + r);
      std::fill(kept, kept + a.words, uint64_t{0});
      draw_kept(a, blk.h, blk.b, blk.i0 + r, kept);
    }
    const F inv = F(1) / sum;
    for (int64_t t = 0; t < V; ++t) s[t] *= inv * a.mult(kept, t);
    for (int64_t t = 0; t <= M; ++t) z_band(r, r + t) = s[t];
  }
  RowsOut<F> out(a.out + a.row_of(blk.h, blk.b, blk.i0), Q, a.D, Eigen::OuterStride<>(a.HD));
  out.noalias() = z_band * blk.values();
  if (a.N > 0) out.noalias() += (a.pv_scale * blk.s.rightCols(a.N)) * blk.pv();
}

// A backward task's buffers: the block's matrices, and one sequence's dk and
// dv windows (S, D), summed over its blocks.
template <typename F>
struct BackwardBuffers {
  Mat<F> z_band, ds_band, dz_band, ds_pos, dz_pers, ds_pers, dq;
  Mat<F> dk, dv;
};

// Backward of one block, with the sequence's dk, dv and the task's partial
// sums (shared gradients) as targets. dq is written or added in place.
template <typename F>
void backward_block(Block<F>& blk, BackwardBuffers<F>& w, const AttentionGradArgs<F>& g, const AttentionPartials<F>& part) {
  const AttentionArgs<F>& a = blk.a;
  blk.scores();
  const int64_t Q = blk.Q, M = a.M, N = a.N, V = a.V, D = a.D, Wn = blk.W();
  const Rows<F> dout = blk.rows_of(a.dout), out = blk.rows_of(a.out);
  // dz = dout [V_window ; pv_scale Pv]^T: the gradient of the dropped-out probabilities.
  w.dz_band.noalias() = dout * blk.values().transpose();
  if (N > 0) w.dz_pers.noalias() = a.pv_scale * (dout * blk.pv().transpose());
  w.z_band.setZero(Q, Wn);
  w.ds_band.setZero(Q, Wn);
  w.ds_pos.resize(Q, M + 1);
  w.ds_pers.resize(Q, N);
  for (int64_t r = 0; r < Q; ++r) {
    const F lse = a.lse[(blk.h * a.B + blk.b) * a.T + blk.i0 + r], delta = dout.row(r).dot(out.row(r));
    const uint64_t* kept = blk.kept(r);
    F* s = &blk.s(r, 0);
#pragma omp simd
    for (int64_t t = 0; t < V; ++t) s[t] = exp_nonpositive(s[t] - lse);  // p, from the row statistic
    // Context columns t = 0..M: key r+t of the window, position row t.
    const F* dz = &w.dz_band(r, r);
    F *z = &w.z_band(r, r), *ds_band = &w.ds_band(r, r), *ds_pos = &w.ds_pos(r, 0);
    for (int64_t t = 0; t <= M; ++t) {
      const F m = a.mult(kept, t), ds = a.alpha * s[t] * (m * dz[t] - delta);
      z[t] = s[t] * m;
      ds_band[t] = ds;
      ds_pos[t] = ds;
    }
    // Persistent columns; s keeps z there, for dpv.
    for (int64_t n = 0; n < N; ++n) {
      const int64_t t = M + 1 + n;
      const F m = a.mult(kept, t);
      w.ds_pers(r, n) = s[t] * (m * w.dz_pers(r, n) - delta);
      s[t] *= m;
    }
  }
  // Values: dv_window += Z_band^T dout, dpv += pv_scale Z_pers^T dout.
  w.dv.middleRows(blk.i0, Wn).noalias() += w.z_band.transpose() * dout;
  Eigen::Map<Mat<F>> dpk(part.dpk, N, D), dpv(part.dpv, N, D), dr(part.dr, M + 1, D);
  if (N > 0) dpv.noalias() += (a.pv_scale * blk.s.rightCols(N).transpose()) * dout;
  // Queries: dq = ds_band K_window + ds_pos R + ds_pers Pk; the biases sum
  // their parts of it over rows.
  w.dq.noalias() = w.ds_band * blk.keys();
  Eigen::Map<Eigen::Matrix<F, 1, Eigen::Dynamic>> du(part.du, D), dvb(part.dvb, D);
  du += w.dq.colwise().sum();
  const Mat<F> dq_pos = w.ds_pos * blk.r();
  dvb += dq_pos.colwise().sum();
  w.dq += dq_pos;
  if (N > 0) w.dq.noalias() += w.ds_pers * blk.pk();
  if (g.dq) {
    RowsOut<F> dq(g.dq + a.row_of(blk.h, blk.b, blk.i0), Q, D, Eigen::OuterStride<>(a.HD));
    if (g.acc_q) dq += w.dq;
    else dq = w.dq;
  }
  // Keys: dk_window += ds_band^T (q+u), dr += ds_pos^T (q+vb), dpk += ds_pers^T q.
  w.dk.middleRows(blk.i0, Wn).noalias() += w.ds_band.transpose() * blk.qu;
  dr.noalias() += w.ds_pos.transpose() * blk.qv;
  if (N > 0) dpk.noalias() += w.ds_pers.transpose() * blk.q();
}

// The tasks' blocks of rows: block `k` of T rows is rows k*Q .. min(T, (k+1)*Q)-1.
inline int64_t blocks_of(int64_t T) { return (T + kQueryBlock - 1) / kQueryBlock; }

}  // namespace

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out) {
  const AttentionRecord record = attention_record(call);
  by_float_type(call.q.dtype(), "attention_forward", [&](auto zero) {
    using F = decltype(zero);
    const AttentionArgs<F> a = attention_args<F>(call, out, record);
    const int64_t nb = blocks_of(a.T);
    // One task per (head, sequence, block of rows); each writes its own rows.
#pragma omp parallel
    {
      Mat<F> z_band;
      Block<F> blk{a, 0, 0, 0, 0, {}, {}, {}, {}, {}};  // the thread's buffers, reused block after block
#pragma omp for schedule(static)
      for (int64_t task = 0; task < a.H * a.B * nb; ++task) {
        const int64_t g = task / nb;
        blk.h = g / a.B, blk.b = g % a.B, blk.i0 = task % nb * kQueryBlock;
        blk.Q = std::min(kQueryBlock, a.T - blk.i0);
        forward_block(blk, z_band);
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
    attention_backward_tasks<F>(a, grads, [&a](int64_t h, int64_t b0, int64_t b1, const AttentionGradArgs<F>& g,
                                               const AttentionPartials<F>& part) {
      BackwardBuffers<F> w;
      Block<F> blk{a, h, 0, 0, 0, {}, {}, {}, {}, {}};
      for (int64_t b = b0; b < b1; ++b) {
        w.dk.setZero(a.S, a.D);
        w.dv.setZero(a.S, a.D);
        for (int64_t i0 = 0; i0 < a.T; i0 += kQueryBlock) {
          blk.b = b, blk.i0 = i0, blk.Q = std::min(kQueryBlock, a.T - i0);
          backward_block(blk, w, g, part);
        }
        // The sequence's dk and dv windows, written or added.
        if (g.dk) {
          RowsOut<F> dk(g.dk + b * a.S * a.HD + h * a.D, a.S, a.D, Eigen::OuterStride<>(a.HD));
          if (g.acc_k) dk += w.dk;
          else dk = w.dk;
        }
        if (g.dv) {
          RowsOut<F> dv(g.dv + b * a.S * a.HD + h * a.D, a.S, a.D, Eigen::OuterStride<>(a.HD));
          if (g.acc_v) dv += w.dv;
          else dv = w.dv;
        }
      }
    });
  });
}

}  // namespace hc::cpu::tuned
