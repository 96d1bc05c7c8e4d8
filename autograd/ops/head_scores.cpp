// head_scores: a (G, I, H*D), b (G, J, H*D) -> y (H*G, I, J),
//   y[h*G + g] = alpha a_g[:, h] b_g[:, h]^T,
// where x[:, h] is the D columns h*D..h*D+D-1 of head h.
//
// Attention's scores straight from the projections' token-major outputs
// (B, ., H*D): each head's query and key vectors are a column window of
// every row, so a product reads them in place (leading dimension H*D, offset
// h*D) and no copy into head-major order is ever made. Per head, products
// batched over G: content scores q (B,T,H*D) against k (B,S,H*D)
// (G = B); position scores q (1,B*T,H*D) against the table r (1,S,H*D)
// (G = 1, all B*T queries of a head in one product). Item h*G + g of the
// result is head h of item g: the head-major order the softmax and the
// weighted sum expect. The H x G products go to the backend as one call
// with a two-level batch (Backend::gemm_heads).
//
// Backward, with dY (H*G, I, J), head by head:
//   da_g[:, h] = alpha dY_hg b_g[:, h]        (I,J)·(J,D)
//   db_g[:, h] = alpha dY_hg^T a_g[:, h]      (J,I)·(I,D)
// each written into its column window of the gradient; the H windows tile
// the gradient, so a first gradient needs no zero fill.
#include "autograd/ops/common.h"

namespace hc {

Variable head_scores(const Variable& a, const Variable& b, int64_t H, double alpha) {
  check(a.value().dim() == 3 && b.value().dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(2) &&
            H > 0 && a.size(2) % H == 0,
        "head_scores: expects a (G,I,H*D) and b (G,J,H*D) with H = " + std::to_string(H) + " dividing H*D, got " +
            shape_str(a.shape()) + " and " + shape_str(b.shape()));
  const int64_t G = a.size(0), I = a.size(1), J = b.size(1), HD = a.size(2), D = HD / H;
  profiler::Scope prof("head_scores", [&] {
    return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b), 
                          cost::head_scores(H, G, I, J, D, detail::elem_of(a.value())).forward_flops,
                          cost::head_scores(H, G, I, J, D, detail::elem_of(a.value())).forward_bytes};
  });
  Tensor y = Tensor::empty({H * G, I, J}, a.value().dtype(), a.value().device());
  Backend& be = backend_of(y);
  be.gemm_heads({false, true, I, J, D, alpha, {a.value(), 0, HD, I * HD}, {b.value(), 0, HD, J * HD}, 0.0,
                 {y, 0, J, I * J}, G},
                H, {D, D, G * I * J});

  return make_result(y, "head_scores", {a, b}, [a, b, H, alpha, G, I, J, HD, D](const Tensor& dy) {
    profiler::Scope prof("head_scores.backward", [&] {
      return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b), 
                            cost::head_scores(H, G, I, J, D, detail::elem_of(dy)).backward_flops,
                            cost::head_scores(H, G, I, J, D, detail::elem_of(dy)).backward_bytes};
    });
    Backend& be = backend_of(dy);
    bool acc = false;  // a first gradient is written (beta = 0), later ones added
    if (a.requires_grad()) {
      const Tensor& g = a.grad_target(acc);
      be.gemm_heads({false, false, I, D, J, alpha, {dy, 0, J, I * J}, {b.value(), 0, HD, J * HD}, acc ? 1.0 : 0.0,
                     {g, 0, HD, I * HD}, G},
                    H, {G * I * J, D, D});
    }
    if (b.requires_grad()) {
      const Tensor& g = b.grad_target(acc);
      be.gemm_heads({true, false, J, D, I, alpha, {dy, 0, J, I * J}, {a.value(), 0, HD, I * HD}, acc ? 1.0 : 0.0,
                     {g, 0, HD, J * HD}, G},
                    H, {G * I * J, D, D});
    }
  });
}

}  // namespace hc
