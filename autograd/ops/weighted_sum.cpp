// weighted_sum: probs (H*B, T, S+N) · [v_h (B, S, D) ; s · pv (H, N, D)] -> out (B, T, H*D)
// with v (B, S, H*D) token-major, v_h its D columns of head h, and out
// token-major too: head h's output is the column window h*D.. of every row.
//
// The last step of All-attention. Each query's probabilities over its S
// context columns weight the values of its own sequence; those over the N
// persistent columns weight the persistent values, which all B sequences of
// head h share (so that product batches over H, with the B*T rows of a head
// stacked). Item g = h*B + b of probs is head h of sequence b:
//
//   out_b[:, h]  = P_g[:, :S] v_b[:, h]     H*B products (T,S)·(S,D), one call (Backend::gemm_heads)
//   out[:, h]   += s P_h[:, S:] pv_h        H products (B*T,N)·(N,D), onto the same output (beta = 1)
//
// Every operand is read in place: probs' column windows (leading dimension
// S+N), v's and out's head windows (leading dimension H*D). So the values
// need no copy into head-major order, and the output is already in the
// (B, T, H*D) order of the output projection: no copy back either. The
// scale s (sqrt(N) in the model) rides on the GEMM's alpha.
//
// Backward, with dout (B, T, H*D):
//   dP[:, :, :S] = dout_b[:, h] v_b[:, h]^T     dv_b[:, h] = P_g[:, :S]^T dout_b[:, h]
//   dP[:, :, S:] = s dout[:, h] pv_h^T          dpv_h      = s P_h[:, S:]^T dout[:, h]
// The two windows of dP are each written in full, as are the H windows of
// dv, so neither needs a zero fill. With N = 0 (the Transformer-XL baseline)
// pv is undefined and only the context product remains.
#include "autograd/ops/common.h"

namespace hc {

Variable weighted_sum(const Variable& probs, const Variable& v, const Variable& pv, double pv_scale) {
  check(probs.value().dim() == 3 && v.value().dim() == 3 && v.size(0) > 0 && probs.size(0) % v.size(0) == 0 &&
            probs.size(0) > 0 && v.size(2) % (probs.size(0) / v.size(0)) == 0 && probs.size(2) >= v.size(1),
        "weighted_sum: expects probs (H*B,T,S+N) and values (B,S,H*D), got " + shape_str(probs.shape()) + " and " +
            shape_str(v.shape()));
  const int64_t G = probs.size(0), T = probs.size(1), B = v.size(0), S = v.size(1), H = G / B, HD = v.size(2),
                D = HD / H, N = probs.size(2) - S, W = S + N;  // W: the row length of probs
  check(N == 0 || pv.defined(), "weighted_sum: probs has " + std::to_string(N) +
                                    " persistent columns but no persistent values were given");
  check(N == 0 || (pv.value().dim() == 3 && pv.size(0) == H && pv.size(1) == N && pv.size(2) == D),
        "weighted_sum: persistent values must be (H,N,D) = (" + std::to_string(H) + "," + std::to_string(N) + "," +
            std::to_string(D) + "), got " + (pv.defined() ? shape_str(pv.shape()) : "none"));
  profiler::Scope prof("weighted_sum", [&] {
    return profiler::Cost{detail::shape_of("probs", probs) + " " + detail::shape_of("v", v),
                          cost::weighted_sum(H, B, T, S, N, D, detail::elem_of(v.value())).forward_flops,
                          cost::weighted_sum(H, B, T, S, N, D, detail::elem_of(v.value())).forward_bytes};
  });
  Tensor out = Tensor::empty({B, T, HD}, v.value().dtype(), v.value().device());
  const Tensor& P = probs.value();
  Backend& be = backend_of(out);
  be.gemm_heads({false, false, T, D, S, 1.0, {P, 0, W, T * W}, {v.value(), 0, HD, S * HD}, 0.0, {out, 0, HD, T * HD}, B},
                H, {B * T * W, D, D});
  if (N > 0)
    be.gemm(false, false, B * T, D, N, pv_scale, {P, S, W, B * T * W}, {pv.value(), 0, D, N * D}, 1.0,
            {out, 0, HD, D}, H);

  return make_result(out, "weighted_sum", {probs, v, pv},
                     [probs, v, pv, pv_scale, G, T, S, D, HD, N, W, H, B](const Tensor& dout) {
    profiler::Scope prof("weighted_sum.backward", [&] {
      return profiler::Cost{detail::shape_of("probs", probs) + " " + detail::shape_of("v", v),
                            cost::weighted_sum(H, B, T, S, N, D, detail::elem_of(dout)).backward_flops,
                            cost::weighted_sum(H, B, T, S, N, D, detail::elem_of(dout)).backward_bytes};
    });
    Backend& be = backend_of(dout);
    const Tensor& P = probs.value();
    bool acc = false;  // a first gradient is written (beta = 0), later ones added
    if (probs.requires_grad()) {
      const Tensor& dp = probs.grad_target(acc);
      const double beta = acc ? 1.0 : 0.0;
      be.gemm_heads({false, true, T, S, D, 1.0, {dout, 0, HD, T * HD}, {v.value(), 0, HD, S * HD}, beta,
                     {dp, 0, W, T * W}, B},
                    H, {D, D, B * T * W});
      if (N > 0)
        be.gemm(false, true, B * T, N, D, pv_scale, {dout, 0, HD, D}, {pv.value(), 0, D, N * D}, beta,
                {dp, S, W, B * T * W}, H);
    }
    if (v.requires_grad()) {
      const Tensor& g = v.grad_target(acc);
      be.gemm_heads({true, false, S, D, T, 1.0, {P, 0, W, T * W}, {dout, 0, HD, T * HD}, acc ? 1.0 : 0.0,
                     {g, 0, HD, S * HD}, B},
                    H, {B * T * W, D, D});
    }
    if (N > 0 && pv.requires_grad()) {
      const Tensor& g = pv.grad_target(acc);
      be.gemm(true, false, N, D, B * T, pv_scale, {P, S, W, B * T * W}, {dout, 0, HD, D}, acc ? 1.0 : 0.0,
              {g, 0, D, N * D}, H);
    }
  });
}

}  // namespace hc
