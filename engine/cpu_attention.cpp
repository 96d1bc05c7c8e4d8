// The CPU's fused All-attention (engine/cpu_attention.h): what the plain loops
// and the AVX-512 tiles share, and the plain loops themselves.
//
// The plain loops take one query row at a time. Forward, for query i of head
// h and sequence b (dimension letters as in docs/spec.md; V = M+1+N visible
// columns, t their index as in cpu_attention.h):
//   s_t  = alpha ((q_i+u)·k_{i+t} + (q_i+vb)·r_{T-1+t})   t <= M
//   s_t  = q_i·pk_n                                        t = M+1+n
//   lse  = max + log sum_t e^(s_t - max)                   kept for the backward
//   p_t  = e^(s_t - lse),   z_t = p_t m_t                  m_t: keep or 0 (the dropout bits)
//   out_i = sum_{t<=M} z_t v_{i+t} + pv_scale sum_n z_{M+1+n} pv_n
// Backward, with dout_i, recomputing p_t from lse:
//   dz_t = dout_i·v_{i+t}  (pv_scale dout_i·pv_n),   Delta = dout_i·out_i = sum_t z_t dz_t
//   ds_t = p_t (m_t dz_t - Delta)                      the softmax's and the dropout's gradient
//   dv_{i+t} += z_t dout_i,  dpv_n += pv_scale z_t dout_i
//   dq_i = alpha sum_{t<=M} ds_t (k_{i+t} + r_{T-1+t}) + sum_n ds_t pk_n
//   dk_{i+t} += alpha ds_t (q_i+u),  dr_{T-1+t} += alpha ds_t (q_i+vb),  dpk_n += ds_t q_i
//   du += alpha sum_t ds_t k_{i+t},  dvb += alpha sum_t ds_t r_{T-1+t}
// Delta replaces the softmax backward's sum_t p_t g_t (g = m dz): the two are
// equal, and Delta needs only the row's output, not its probabilities.
#include "engine/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu_backend.h"
#include "engine/cpu_tuned/attention.h"
#include "engine/cpu_tuned/exp_nonpositive.h"
#include "engine/cpu_util.h"

namespace hc::cpu {

namespace {

// Backward tasks per head: the batch in this many groups (fewer when B is
// smaller). Fixed, so that the partial sums, and the bits, do not depend on
// the thread count; several per thread, so that threads share the work.
constexpr int64_t kBackwardGroups = 8;

template <typename F>
F dot(const F* x, const F* y, int64_t n) {
  F s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}

// y (n) += a x.
template <typename F>
void axpy(F a, const F* x, F* y, int64_t n) {
#pragma omp simd
  for (int64_t d = 0; d < n; ++d) y[d] += a * x[d];
}

// The V visible scores s of query i (shapes above); qu = q_i+u and qv =
// q_i+vb are written too (D each), rounded to F as the unfused ops round them.
template <typename F>
void row_scores(const AttentionArgs<F>& a, int64_t h, int64_t b, int64_t i, F* qu, F* qv, F* s) {
  const F* q = a.q + a.row_of(h, b, i);
  for (int64_t d = 0; d < a.D; ++d) {
    qu[d] = q[d] + a.u[h * a.D + d];
    qv[d] = q[d] + a.vb[h * a.D + d];
  }
  for (int64_t t = 0; t <= a.M; ++t)
    s[t] = a.alpha * dot(qu, a.k_row(h, b, i + t), a.D) + a.alpha * dot(qv, a.r_row(h, t), a.D);
  for (int64_t n = 0; n < a.N; ++n) s[a.M + 1 + n] = dot(q, a.pk + (h * a.N + n) * a.D, a.D);
}

// Forward of head h, sequence b, row by row; buf holds 2 D + V numbers.
template <typename F>
void forward_rows(const AttentionArgs<F>& a, int64_t h, int64_t b, F* buf) {
  F *qu = buf, *qv = buf + a.D, *s = buf + 2 * a.D;
  for (int64_t i = 0; i < a.T; ++i) {
    row_scores(a, h, b, i, qu, qv, s);
    F mx = -std::numeric_limits<F>::infinity(), sum = 0;
    for (int64_t t = 0; t < a.V; ++t) mx = s[t] > mx ? s[t] : mx;
    for (int64_t t = 0; t < a.V; ++t) sum += s[t] = exp_nonpositive(s[t] - mx);
    a.lse[(h * a.B + b) * a.T + i] = mx + std::log(sum);
    uint64_t* kept = nullptr;
    if (a.kept) {
      kept = a.kept_row(h, b, i);
      std::fill(kept, kept + a.words, uint64_t{0});
      draw_kept(a, h, b, i, kept);
    }
    // out_i = the context's weighted values, plus pv_scale times the persistent ones.
    F* o = a.out + a.row_of(h, b, i);
    F* pers = qv;  // qv is no longer needed: the persistent sum goes there
    std::fill(o, o + a.D, F(0));
    std::fill(pers, pers + a.D, F(0));
    const F inv = F(1) / sum;
    for (int64_t t = 0; t <= a.M; ++t) axpy(s[t] * inv * a.mult(kept, t), a.v_row(h, b, i + t), o, a.D);
    for (int64_t n = 0; n < a.N; ++n)
      axpy(s[a.M + 1 + n] * inv * a.mult(kept, a.M + 1 + n), a.pv + (h * a.N + n) * a.D, pers, a.D);
    axpy(a.pv_scale, pers, o, a.D);
  }
}

// Backward of head h, sequences b0..b1-1 (one task of attention_backward_tasks).
template <typename F>
void backward_rows(const AttentionArgs<F>& a, int64_t h, int64_t b0, int64_t b1, const AttentionGradArgs<F>& g,
                   const AttentionPartials<F>& part) {
  const int64_t D = a.D, M = a.M;
  std::vector<F> buf(5 * D + a.V + 2 * a.S * D);
  F *qu = buf.data(), *qv = qu + D, *dqu = qv + D, *dqv = dqu + D, *dqp = dqv + D, *s = dqp + D;
  F *dk = s + a.V, *dv = dk + a.S * D;  // this sequence's dk and dv windows, (S, D)
  for (int64_t b = b0; b < b1; ++b) {
    std::fill(dk, dk + 2 * a.S * D, F(0));
    for (int64_t i = 0; i < a.T; ++i) {
      row_scores(a, h, b, i, qu, qv, s);
      const F lse = a.lse[(h * a.B + b) * a.T + i];
      const F* q = a.q + a.row_of(h, b, i);
      const F* dout = a.dout + a.row_of(h, b, i);
      const F delta = dot(dout, a.out + a.row_of(h, b, i), D);
      const uint64_t* kept = a.kept ? a.kept_row(h, b, i) : nullptr;
      std::fill(dqu, dqu + 3 * D, F(0));
      for (int64_t t = 0; t < a.V; ++t) {
        const bool ctx = t <= M;
        const F* values = ctx ? a.v_row(h, b, i + t) : a.pv + (h * a.N + t - M - 1) * D;
        const F scale = ctx ? F(1) : a.pv_scale;  // the persistent values are used times pv_scale
        const F p = exp_nonpositive(s[t] - lse), m = a.mult(kept, t);
        const F dz = scale * dot(dout, values, D), ds = p * (m * dz - delta);
        if (ctx) {
          axpy(p * m, dout, dv + (i + t) * D, D);
          axpy(a.alpha * ds, a.k_row(h, b, i + t), dqu, D);
          axpy(a.alpha * ds, qu, dk + (i + t) * D, D);
          axpy(a.alpha * ds, a.r_row(h, t), dqv, D);
          axpy(a.alpha * ds, qv, part.dr + t * D, D);
        } else {
          const int64_t n = t - M - 1;
          axpy(scale * p * m, dout, part.dpv + n * D, D);
          axpy(ds, a.pk + (h * a.N + n) * D, dqp, D);
          axpy(ds, q, part.dpk + n * D, D);
        }
      }
      if (g.dq) {
        F* dq = g.dq + a.row_of(h, b, i);
        for (int64_t d = 0; d < D; ++d) dq[d] = (g.acc_q ? dq[d] : F(0)) + dqu[d] + dqv[d] + dqp[d];
      }
      axpy(F(1), dqu, part.du, D);
      axpy(F(1), dqv, part.dvb, D);
    }
    // The sequence's dk and dv windows, written or added.
    for (int64_t j = 0; j < a.S; ++j)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t at = (b * a.S + j) * a.HD + h * D + d;
        if (g.dk) g.dk[at] = (g.acc_k ? g.dk[at] : F(0)) + dk[j * D + d];
        if (g.dv) g.dv[at] = (g.acc_v ? g.dv[at] : F(0)) + dv[j * D + d];
      }
  }
}

// dst (n) = (accumulate ? dst : 0) + the sum of `parts` arrays of n numbers,
// `stride` apart, added in order.
template <typename F>
void add_partials(F* dst, bool accumulate, const F* parts, int64_t count, int64_t stride, int64_t n) {
  for (int64_t e = 0; e < n; ++e) {
    F sum = accumulate ? dst[e] : F(0);
    for (int64_t c = 0; c < count; ++c) sum += parts[c * stride + e];
    dst[e] = sum;
  }
}

}  // namespace

AttentionRecord attention_record(const AttentionCall& call) {
  const AttentionCall::Dims d = call.dims();
  const int64_t rows = d.H * d.B * d.T, words = (d.M + 1 + d.N + 63) / 64;
  AttentionRecord record{{Tensor::empty({d.H * d.B, d.T}, call.q.dtype(), Device::CPU)}};
  if (call.dropout_p > 0) record.saved.push_back(Tensor::empty({rows * words}, DType::I64, Device::CPU));
  return record;
}

template <typename F>
AttentionArgs<F> attention_args(const AttentionCall& call, const Tensor& out, const AttentionRecord& record) {
  const AttentionCall::Dims d = call.dims();
  check(out.shape() == call.q.shape(), "attention: out must have q's shape");
  AttentionArgs<F> a;
  a.B = d.B, a.T = d.T, a.M = d.M, a.S = d.S, a.H = d.H, a.D = d.D, a.N = d.N;
  a.HD = d.H * d.D, a.V = d.M + 1 + d.N, a.W = d.S + d.N;
  a.alpha = F(call.alpha), a.pv_scale = F(call.pv_scale);
  a.q = ptr<F>(call.q), a.k = ptr<F>(call.k), a.v = ptr<F>(call.v), a.r = ptr<F>(call.r);
  a.u = ptr<F>(call.u), a.vb = ptr<F>(call.vb);
  if (d.N > 0) a.pk = ptr<F>(call.pk), a.pv = ptr<F>(call.pv);
  a.out = ptr<F>(out);
  check(!record.saved.empty() && record.saved[0].numel() == d.H * d.B * d.T &&
            record.saved.size() == (call.dropout_p > 0 ? 2u : 1u),
        "attention: the record is not this call's (CPU attention_forward's record: lse, dropout bits)");
  a.lse = ptr<F>(record.saved[0]);
  if (call.dropout_p > 0) {
    // Each row of W probabilities must lie in one stream's counter range.
    check(call.key.streams == 0 || call.key.inner % a.W == 0,
          "attention: a per-stream dropout key must give whole rows of S+N numbers");
    a.words = (a.V + 63) / 64;
    a.kept = reinterpret_cast<uint64_t*>(ptr<int64_t>(record.saved[1]));
    a.p = static_cast<float>(call.dropout_p);
    a.keep = static_cast<F>(1.0 / (1.0 - call.dropout_p));
    a.key = call.key;
  }
  return a;
}
template AttentionArgs<float> attention_args(const AttentionCall&, const Tensor&, const AttentionRecord&);
template AttentionArgs<double> attention_args(const AttentionCall&, const Tensor&, const AttentionRecord&);

namespace {

// row's bits pos..pos+n-1 |= the low n bits of `bits` (n <= 64; the rest of
// `bits` zero), across a word boundary where they fall on one.
void or_bits(uint64_t* row, int64_t pos, uint64_t bits, int64_t n) {
  const int64_t word = pos >> 6, shift = pos & 63;
  row[word] |= bits << shift;
  if (shift + n > 64) row[word + 1] |= bits >> (64 - shift);
}

// Sets bit t0 + (e - e0) of row for every kept element e = e0..e0+count-1 of
// the stream (stream, slice) of `key`. Numbers come 64 at a time (16 Philox
// blocks from the block of e), and their 64 comparisons with the threshold
// come back as one word of bits (kept_bits_64).
void set_kept_bits(const RandomKey& key, uint32_t stream, uint32_t slice, uint64_t threshold, int64_t e0,
                   int64_t count, uint64_t* row, int64_t t0) {
  alignas(64) uint32_t words[64];
  for (int64_t e = e0; e < e0 + count;) {
    const int64_t base = e / 4 * 4, stop = std::min(e0 + count, base + 64), n = stop - e;
    philox_16(key.offset + static_cast<uint64_t>(base / 4), stream, slice, static_cast<uint32_t>(key.seed),
              static_cast<uint32_t>(key.seed >> 32), words);
    const uint64_t bits = kept_bits_64(words, threshold) >> (e - base);  // bit 0: element e
    or_bits(row, t0 + e - e0, n == 64 ? bits : bits & ((uint64_t{1} << n) - 1), n);
    e = stop;
  }
}

}  // namespace

template <typename F>
void draw_kept(const AttentionArgs<F>& a, int64_t h, int64_t b, int64_t i, uint64_t* row) {
  // Element (g, i, j) of the (G, T, W) probabilities is number e of the key's
  // stream: all of a flat key's, or one stream's and slice's (RandomKey).
  const int64_t element = ((h * a.B + b) * a.T + i) * a.W;
  int64_t first = element;
  uint32_t stream = 0, slice = 0;
  if (a.key.streams > 0) {
    const int64_t key_row = element / a.key.inner;
    first = element % a.key.inner;
    stream = static_cast<uint32_t>(a.key.first_stream + key_row % a.key.streams);
    slice = static_cast<uint32_t>(key_row / a.key.streams);
  }
  // Visible columns t = 0..M are the context elements i..i+M of the row,
  // t = M+1.. the persistent ones S..W-1; the masked ones are never drawn.
  const uint64_t threshold = philox::keep_threshold(a.p);
  set_kept_bits(a.key, stream, slice, threshold, first + i, a.M + 1, row, 0);
  set_kept_bits(a.key, stream, slice, threshold, first + a.S, a.N, row, a.M + 1);
}
template void draw_kept(const AttentionArgs<float>&, int64_t, int64_t, int64_t, uint64_t*);
template void draw_kept(const AttentionArgs<double>&, int64_t, int64_t, int64_t, uint64_t*);

template <typename F>
void attention_backward_tasks(const AttentionArgs<F>& a, const AttentionGrads& grads, const AttentionTask<F>& task) {
  const int64_t D = a.D, groups = std::min(a.B, kBackwardGroups);
  const int64_t per_task = (a.M + 1) * D + 2 * D + 2 * a.N * D;  // dr, du, dvb, dpk, dpv
  std::vector<F> partial(a.H * groups * per_task);
  auto partials_of = [&](int64_t task_index) {
    F* p = partial.data() + task_index * per_task;
    return AttentionPartials<F>{p, p + (a.M + 1) * D, p + (a.M + 2) * D, p + (a.M + 3) * D, p + (a.M + 3 + a.N) * D};
  };
  AttentionGradArgs<F> targets;
  if (grads.q.t.defined()) targets.dq = ptr<F>(grads.q.t), targets.acc_q = grads.q.accumulate;
  if (grads.k.t.defined()) targets.dk = ptr<F>(grads.k.t), targets.acc_k = grads.k.accumulate;
  if (grads.v.t.defined()) targets.dv = ptr<F>(grads.v.t), targets.acc_v = grads.v.accumulate;
  // Any schedule gives the same bits: each task's sums run in its own order.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t it = 0; it < a.H * groups; ++it) {
    const int64_t h = it / groups, grp = it % groups;
    std::fill(partial.data() + it * per_task, partial.data() + (it + 1) * per_task, F(0));
    task(h, a.B * grp / groups, a.B * (grp + 1) / groups, targets, partials_of(it));
  }
  // The shared gradients: each head's partials added up, group by group.
  const int64_t stride = per_task;
  for (int64_t h = 0; h < a.H; ++h) {
    const AttentionPartials<F> first = partials_of(h * groups);
    if (grads.r.t.defined()) {  // rows T-1..S-1 of head h's window of r; the others see no query
      F* dr = ptr<F>(grads.r.t) + h * D;
      for (int64_t c = 0; c < a.S; ++c) {
        F* row = dr + c * a.HD;
        if (c >= a.T - 1) add_partials(row, grads.r.accumulate, first.dr + (c - a.T + 1) * D, groups, stride, D);
        else if (!grads.r.accumulate) std::fill(row, row + D, F(0));
      }
    }
    if (grads.u.t.defined()) add_partials(ptr<F>(grads.u.t) + h * D, grads.u.accumulate, first.du, groups, stride, D);
    if (grads.vb.t.defined())
      add_partials(ptr<F>(grads.vb.t) + h * D, grads.vb.accumulate, first.dvb, groups, stride, D);
    if (a.N > 0 && grads.pk.t.defined())
      add_partials(ptr<F>(grads.pk.t) + h * a.N * D, grads.pk.accumulate, first.dpk, groups, stride, a.N * D);
    if (a.N > 0 && grads.pv.t.defined())
      add_partials(ptr<F>(grads.pv.t) + h * a.N * D, grads.pv.accumulate, first.dpv, groups, stride, a.N * D);
  }
}
template void attention_backward_tasks(const AttentionArgs<float>&, const AttentionGrads&, const AttentionTask<float>&);
template void attention_backward_tasks(const AttentionArgs<double>&, const AttentionGrads&,
                                       const AttentionTask<double>&);

namespace plain {

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out) {
  const AttentionRecord record = attention_record(call);
  by_float_type(call.q.dtype(), "attention_forward", [&](auto zero) {
    using F = decltype(zero);
    const AttentionArgs<F> a = attention_args<F>(call, out, record);
#pragma omp parallel
    {
      std::vector<F> buf(2 * a.D + a.V);
#pragma omp for schedule(static)
      for (int64_t g = 0; g < a.H * a.B; ++g) forward_rows(a, g / a.B, g % a.B, buf.data());
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
    attention_backward_tasks<F>(a, grads, [&](int64_t h, int64_t b0, int64_t b1, const AttentionGradArgs<F>& g,
                                              const AttentionPartials<F>& part) { backward_rows(a, h, b0, b1, g, part); });
  });
}

}  // namespace plain

AttentionRecord attention_forward(const AttentionCall& call, const Tensor& out) {
  return tuned::attention_forward(call, out);
}

void attention_backward(const AttentionCall& call, const Tensor& out, const Tensor& dout,
                        const AttentionRecord& record, const AttentionGrads& grads) {
  tuned::attention_backward(call, out, dout, record, grads);
}

}  // namespace hc::cpu
