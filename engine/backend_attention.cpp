// Backend's default attention_forward and attention_backward: All-attention
// (engine/backend.h, AttentionCall) written with the other primitives of the
// list, the way the unfused ops of models/allatt_layer.cpp compute it, step
// by step. A backend without a fused kernel (CUDA, until it has one) runs
// this; the CPU's fused kernel (engine/cpu_attention.h) is tested against it.
// Shapes: B batch, T queries, M memory, S = M+T, H heads, D head width, N
// persistent vectors, G = H*B (score items, head-major), W = S+N.
#include <string>

#include "engine/backend.h"

namespace hc {

AttentionCall::Dims AttentionCall::dims() const {
  check(q.defined() && q.dim() == 3 && u.defined() && u.dim() == 2 && q.size(2) == u.size(0) * u.size(1),
        "attention: expects q (B,T,H*D) and u (H,D), got " + (q.defined() ? q.describe() : "none") + " and " +
            (u.defined() ? u.describe() : "none"));
  const int64_t B = q.size(0), T = q.size(1), H = u.size(0), D = u.size(1), HD = H * D;
  check(k.defined() && k.dim() == 3 && k.size(0) == B && k.size(1) >= T && k.size(2) == HD,
        "attention: k must be (B,S,H*D) with S >= T, got " + (k.defined() ? k.describe() : "none"));
  const int64_t S = k.size(1), N = pk.defined() ? pk.size(1) : 0;
  auto same = [&](const Tensor& t, const Shape& shape, const char* name) {
    check(t.defined() && t.shape() == shape && t.dtype() == q.dtype() && t.device() == q.device(),
          std::string("attention: ") + name + " must be " + shape_str(shape) + " like q, got " +
              (t.defined() ? t.describe() : "none"));
  };
  same(k, {B, S, HD}, "k");
  same(v, {B, S, HD}, "v");
  same(r, {S, HD}, "r");
  same(u, {H, D}, "u");
  same(vb, {H, D}, "vb");
  check(pk.defined() == pv.defined(), "attention: persistent keys and values come together");
  if (pk.defined()) {
    same(pk, {H, N, D}, "pk");
    same(pv, {H, N, D}, "pv");
  }
  check(dropout_p >= 0 && dropout_p < 1, "attention: dropout p must be in [0, 1)");
  check(dropout_p == 0 || key.fits(H * B * T * (S + N)),
        "attention: the dropout key does not cut the (H*B,T,S+N) probabilities into whole streams");
  return {B, T, S - T, S, H, D, N};
}

AttentionRecord Backend::attention_forward(const AttentionCall& c, const Tensor& out) {
  const AttentionCall::Dims d = c.dims();
  const int64_t B = d.B, T = d.T, S = d.S, H = d.H, D = d.D, N = d.N, HD = H * D, G = H * B, W = S + N;
  check(out.shape() == c.q.shape(), "attention_forward: out must have q's shape");
  if (out.numel() == 0) return {};
  const DType dt = c.q.dtype();
  const Device dev = c.q.device();
  // The biased queries q + u and q + vb (u, vb repeat over the B*T rows).
  const Tensor qu = Tensor::empty({B, T, HD}, dt, dev), qv = Tensor::empty({B, T, HD}, dt, dev);
  binary(Binary::Add, c.q, c.u, qu, Broadcast{B * T, 1}, false);
  binary(Binary::Add, c.q, c.vb, qv, Broadcast{B * T, 1}, false);
  // Logits (G,T,W): content scores in the first S columns (item h*B + b),
  // then the position scores of all B*T queries of a head against r,
  // realigned by the relative shift (autograd/ops/add_rel_shift.cpp), then
  // the persistent scores in the last N columns.
  const Tensor logits = Tensor::empty({G, T, W}, dt, dev), pos = Tensor::empty({G, T, S}, dt, dev);
  gemm_heads({false, true, T, S, D, c.alpha, {qu, 0, HD, T * HD}, {c.k, 0, HD, S * HD}, 0.0, {logits, 0, W, T * W}, B},
             H, {D, D, B * T * W});
  gemm_heads({false, true, B * T, S, D, c.alpha, {qv, 0, HD, B * T * HD}, {c.r, 0, HD, S * HD}, 0.0,
              {pos, 0, S, B * T * S}, 1},
             H, {D, D, B * T * S});
  strided_copy(logits, 0, {T * W, W, 1}, pos, T - 1, {T * S, S - 1, 1}, {G, T, S}, true);
  if (N > 0)
    gemm(false, true, B * T, N, D, 1.0, {c.q, 0, HD, D}, {c.pk, 0, D, N * D}, 0.0, {logits, S, W, B * T * W}, H);
  // Probabilities, dropout, and the weighted sum over [values ; persistent values].
  const Tensor probs = Tensor::empty({G, T, W}, dt, dev);
  softmax_forward(logits, probs, BandMask{T, S, 0, d.M});
  Tensor z = probs, kept;
  if (c.dropout_p > 0) {
    z = Tensor::empty({G, T, W}, dt, dev);
    kept = dropout_forward(probs, z, c.dropout_p, c.key);
  }
  gemm_heads({false, false, T, D, S, 1.0, {z, 0, W, T * W}, {c.v, 0, HD, S * HD}, 0.0, {out, 0, HD, T * HD}, B}, H,
             {B * T * W, D, D});
  if (N > 0)
    gemm(false, false, B * T, D, N, c.pv_scale, {z, S, W, B * T * W}, {c.pv, 0, D, N * D}, 1.0, {out, 0, HD, D}, H);
  return {{probs, z, kept}};
}

void Backend::attention_backward(const AttentionCall& c, const Tensor&, const Tensor& dout,
                                 const AttentionRecord& record, const AttentionGrads& g) {
  const AttentionCall::Dims d = c.dims();
  const int64_t B = d.B, T = d.T, S = d.S, H = d.H, D = d.D, N = d.N, HD = H * D, G = H * B, W = S + N;
  if (dout.numel() == 0) return;
  const DType dt = c.q.dtype();
  const Device dev = c.q.device();
  const Tensor &probs = record.saved.at(0), &z = record.saved.at(1), &kept = record.saved.at(2);
  auto beta = [](const GradTarget& t) { return t.accumulate ? 1.0 : 0.0; };
  // dz (G,T,W) = dout [v ; pv_scale pv]^T, and the values' gradients z^T dout.
  const Tensor dz = Tensor::empty({G, T, W}, dt, dev);
  gemm_heads({false, true, T, S, D, 1.0, {dout, 0, HD, T * HD}, {c.v, 0, HD, S * HD}, 0.0, {dz, 0, W, T * W}, B}, H,
             {D, D, B * T * W});
  if (N > 0)
    gemm(false, true, B * T, N, D, c.pv_scale, {dout, 0, HD, D}, {c.pv, 0, D, N * D}, 0.0, {dz, S, W, B * T * W}, H);
  if (g.v.t.defined())
    gemm_heads({true, false, S, D, T, 1.0, {z, 0, W, T * W}, {dout, 0, HD, T * HD}, beta(g.v), {g.v.t, 0, HD, S * HD},
                B},
               H, {B * T * W, D, D});
  if (N > 0 && g.pv.t.defined())
    gemm(true, false, N, D, B * T, c.pv_scale, {z, S, W, B * T * W}, {dout, 0, HD, D}, beta(g.pv), {g.pv.t, 0, D, N * D},
         H);
  // ds (G,T,W): back through the dropout and the softmax.
  const Tensor ds = Tensor::empty({G, T, W}, dt, dev);
  if (c.dropout_p > 0) softmax_dropout_backward(probs, dz, kept, c.dropout_p, c.key, ds, false);
  else softmax_backward(probs, dz, ds, false);
  const Tensor qu = Tensor::empty({B, T, HD}, dt, dev), qv = Tensor::empty({B, T, HD}, dt, dev);
  binary(Binary::Add, c.q, c.u, qu, Broadcast{B * T, 1}, false);
  binary(Binary::Add, c.q, c.vb, qv, Broadcast{B * T, 1}, false);
  // Content: dqu = alpha ds k, dk = alpha ds^T qu.
  const Tensor dqu = Tensor::empty({B, T, HD}, dt, dev), dqv = Tensor::empty({B, T, HD}, dt, dev);
  gemm_heads({false, false, T, D, S, c.alpha, {ds, 0, W, T * W}, {c.k, 0, HD, S * HD}, 0.0, {dqu, 0, HD, T * HD}, B},
             H, {B * T * W, D, D});
  if (g.k.t.defined())
    gemm_heads({true, false, S, D, T, c.alpha, {ds, 0, W, T * W}, {qu, 0, HD, T * HD}, beta(g.k),
                {g.k.t, 0, HD, S * HD}, B},
               H, {B * T * W, D, D});
  // Position: ds back through the shifted view into dpos (G,T,S), as
  // add_rel_shift's backward does (column S-1 of a row shares its source
  // with column 0 of the next, so it is added in a copy of its own).
  const Tensor dpos = Tensor::zeros({G, T, S}, dt, dev);
  if (S > 1) strided_copy(dpos, T - 1, {T * S, S - 1, 1}, ds, 0, {T * W, W, 1}, {G, T, S - 1}, true);
  strided_copy(dpos, T - 1 + S - 1, {T * S, S - 1, 1}, ds, S - 1, {T * W, W, 1}, {G, T, 1}, true);
  gemm_heads({false, false, B * T, D, S, c.alpha, {dpos, 0, S, B * T * S}, {c.r, 0, HD, S * HD}, 0.0,
              {dqv, 0, HD, B * T * HD}, 1},
             H, {B * T * S, D, D});
  if (g.r.t.defined())
    gemm_heads({true, false, S, D, B * T, c.alpha, {dpos, 0, S, B * T * S}, {qv, 0, HD, B * T * HD}, beta(g.r),
                {g.r.t, 0, HD, S * HD}, 1},
               H, {B * T * S, D, D});
  // The biases get the sums of their queries' gradients; q gets all three parts.
  if (g.u.t.defined()) reduce(Reduce::Sum, dqu, g.u.t, Broadcast{B * T, 1}, g.u.accumulate);
  if (g.vb.t.defined()) reduce(Reduce::Sum, dqv, g.vb.t, Broadcast{B * T, 1}, g.vb.accumulate);
  if (g.q.t.defined()) {
    binary(Binary::Add, dqu, dqv, g.q.t, Broadcast{}, g.q.accumulate);
    if (N > 0)
      gemm(false, false, B * T, D, N, 1.0, {ds, S, W, B * T * W}, {c.pk, 0, D, N * D}, 1.0, {g.q.t, 0, HD, D}, H);
  }
  if (N > 0 && g.pk.t.defined())
    gemm(true, false, N, D, B * T, 1.0, {ds, S, W, B * T * W}, {c.q, 0, HD, D}, beta(g.pk), {g.pk.t, 0, D, N * D}, H);
}

}  // namespace hc
