// weighted_sum: probs (H*B, T, S+N) · [v (H*B, S, D) ; s · pv (H, N, D)] -> out (H*B, T, D)
//
// The last step of All-attention. Each query's probabilities over its S
// context columns weight the values of its own sequence; those over the N
// persistent columns weight the persistent values, which all B sequences of
// head h share (so that product batches over H, with the B*T rows of a head
// stacked). Item g = h*B + b:
//
//   out_g  = P_g[:, :S] v_g           H*B products (T,S)·(S,D)
//   out_h += s P_h[:, S:] pv_h        H products (B*T,N)·(N,D), onto the same output (beta = 1)
//
// Both read their column window of probs in place (leading dimension S+N):
// no slice copies of probs and no separate sum of two outputs. The scale s
// (sqrt(N) in the model) rides on the GEMM's alpha.
//
// Backward, with dout (H*B, T, D):
//   dP[:, :, :S] = dout_g v_g^T        dv_g  = P_g[:, :S]^T dout_g
//   dP[:, :, S:] = s dout_h pv_h^T     dpv_h = s P_h[:, S:]^T dout_h
// The two windows of dP are each written in full, so dP needs no zero fill.
// With N = 0 (the Transformer-XL baseline) pv is undefined and only the
// context product remains.
#include "autograd/ops/common.h"

namespace hc {

Variable weighted_sum(const Variable& probs, const Variable& v, const Variable& pv, double pv_scale) {
  check(probs.value().dim() == 3 && v.value().dim() == 3 && probs.size(0) == v.size(0) &&
            probs.size(2) >= v.size(1),
        "weighted_sum: expects probs (G,T,S+N) and values (G,S,D), got " + shape_str(probs.shape()) +
            " and " + shape_str(v.shape()));
  const int64_t G = probs.size(0), T = probs.size(1), S = v.size(1), D = v.size(2), N = probs.size(2) - S,
                W = S + N;  // W: the row length of probs
  check(N == 0 || pv.defined(), "weighted_sum: probs has " + std::to_string(N) +
                                    " persistent columns but no persistent values were given");
  const int64_t H = N > 0 ? pv.size(0) : 1;
  check(N == 0 || (pv.value().dim() == 3 && pv.size(1) == N && pv.size(2) == D && H > 0 && G % H == 0),
        "weighted_sum: persistent values must be (H,N,D) = (H," + std::to_string(N) + "," + std::to_string(D) +
            ") with H dividing " + std::to_string(G) + ", got " + (pv.defined() ? shape_str(pv.shape()) : "none"));
  const int64_t B = G / H;
  profiler::Scope prof("weighted_sum", [&] {
    return profiler::Cost{detail::shape_of("probs", probs) + " " + detail::shape_of("v", v),
                          2.0 * G * T * W * D,
                          detail::bytes_of(v.value(), G * T * W + G * S * D + H * N * D + G * T * D)};
  });
  Tensor out = Tensor::empty({G, T, D}, v.value().dtype(), v.value().device());
  const Tensor& P = probs.value();
  Backend& be = backend_of(out);
  be.gemm(false, false, T, D, S, 1.0, {P, 0, W, T * W}, {v.value(), 0, D, S * D}, 0.0, {out, 0, D, T * D}, G);
  if (N > 0)
    be.gemm(false, false, B * T, D, N, pv_scale, {P, S, W, B * T * W}, {pv.value(), 0, D, N * D}, 1.0,
            {out, 0, D, B * T * D}, H);

  return make_result(out, "weighted_sum", {probs, v, pv},
                     [probs, v, pv, pv_scale, G, T, S, D, N, W, H, B](const Tensor& dout) {
    profiler::Scope prof("weighted_sum.backward", [&] {
      return profiler::Cost{detail::shape_of("probs", probs) + " " + detail::shape_of("v", v),
                            4.0 * G * T * W * D,
                            detail::bytes_of(dout, 2.0 * (G * T * W + G * S * D + H * N * D + G * T * D))};
    });
    Backend& be = backend_of(dout);
    const Tensor& P = probs.value();
    bool acc = false;  // a first gradient is written (beta = 0), later ones added
    std::optional<Backend::GemmCall> context_dp, persistent_dp;
    if (probs.requires_grad()) {
      const Tensor& dp = probs.grad_target(acc);
      const double beta = acc ? 1.0 : 0.0;
      context_dp = Backend::GemmCall{false, true, T, S, D, 1.0, {dout, 0, D, T * D}, {v.value(), 0, D, S * D},
                                     beta, {dp, 0, W, T * W}, G};
      if (N > 0)
        persistent_dp = Backend::GemmCall{false, true, B * T, N, D, pv_scale, {dout, 0, D, B * T * D},
                                          {pv.value(), 0, D, N * D}, beta, {dp, S, W, B * T * W}, H};
    }
    std::optional<Backend::GemmCall> dv, dpv;
    if (v.requires_grad()) {
      const Tensor& g = v.grad_target(acc);
      dv = Backend::GemmCall{true, false, S, D, T, 1.0, {P, 0, W, T * W}, {dout, 0, D, T * D}, acc ? 1.0 : 0.0,
                             {g, 0, D, S * D}, G};
    }
    if (N > 0 && pv.requires_grad()) {
      const Tensor& g = pv.grad_target(acc);
      dpv = Backend::GemmCall{true, false, N, D, B * T, pv_scale, {P, S, W, B * T * W}, {dout, 0, D, B * T * D},
                              acc ? 1.0 : 0.0, {g, 0, D, N * D}, H};
    }
    detail::gemm_gradients(be, context_dp, dv);
    detail::gemm_gradients(be, persistent_dp, dpv);
  });
}

}  // namespace hc
