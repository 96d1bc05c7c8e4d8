// matmul: a (M,K) · b (K,N) -> c (M,N)          (2-D)
// bmm:    alpha a (G,M,K) · b (G,K,N) -> c (G,M,N)    (one product per batch item)
// A set trans flag means the stored operand is the transpose: a (K,M), b (N,K).
//
// With c = alpha op(a) op(b):  d op(a) = alpha dc op(b)^T  and  d op(b) = alpha op(a)^T dc.
// When a is stored transposed, da = (d op(a))^T = op(b) dc^T, and so on: each
// of the four cases is one GEMM with the flags chosen so that the gradient
// lands in the stored layout, written (beta = 0) or added (beta = 1).
#include "autograd/ops/common.h"

namespace hc {

namespace {

Variable batched_product(const char* op, const Variable& a, const Variable& b, bool ta, bool tb,
                         int64_t G, double alpha) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const size_t r = sa.size();
  const int64_t M = ta ? sa[r - 1] : sa[r - 2], K = ta ? sa[r - 2] : sa[r - 1];
  const int64_t N = tb ? sb[r - 2] : sb[r - 1], Kb = tb ? sb[r - 1] : sb[r - 2];
  check(K == Kb, std::string(op) + ": inner sizes differ, " + shape_str(sa) +
                     (ta ? "^T" : "") + " x " + shape_str(sb) + (tb ? "^T" : ""));
  profiler::Scope prof(op, [&] {
    return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b),
                          cost::products(G, M, K, N, detail::elem_of(a.value())).forward_flops,
                          cost::products(G, M, K, N, detail::elem_of(a.value())).forward_bytes};
  });
  Shape out = r == 2 ? Shape{M, N} : Shape{G, M, N};
  Tensor c = Tensor::empty(out, a.value().dtype(), a.value().device());
  const int64_t lda = sa[r - 1], ldb = sb[r - 1];
  backend_of(c).gemm(ta, tb, M, N, K, alpha, {a.value(), 0, lda, M * K}, {b.value(), 0, ldb, K * N},
                     0.0, {c, 0, N, M * N}, G);

  return make_result(c, op, {a, b}, [a, b, ta, tb, M, N, K, G, lda, ldb, alpha](const Tensor& dc) {
    profiler::Scope prof("matmul.backward", [&] {
      return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b),
                            cost::products(G, M, K, N, detail::elem_of(dc)).backward_flops,
                            cost::products(G, M, K, N, detail::elem_of(dc)).backward_bytes};
    });
    const Matrix dC{dc, 0, N, M * N};
    const Matrix A{a.value(), 0, lda, M * K}, B{b.value(), 0, ldb, K * N};
    bool acc = false;  // a first gradient is written (beta = 0), later ones added
    std::optional<Backend::GemmCall> grad_a, grad_b;  // run side by side (gemm_pair)
    if (a.requires_grad()) {
      const Matrix dA{a.grad_target(acc), 0, lda, M * K};
      const double beta = acc ? 1.0 : 0.0;
      if (!ta) grad_a = Backend::GemmCall{false, !tb, M, K, N, alpha, dC, B, beta, dA, G};  // da = alpha dc op(b)^T
      else grad_a = Backend::GemmCall{tb, true, K, M, N, alpha, B, dC, beta, dA, G};        // da = alpha op(b) dc^T
    }
    if (b.requires_grad()) {
      const Matrix dB{b.grad_target(acc), 0, ldb, K * N};
      const double beta = acc ? 1.0 : 0.0;
      if (!tb) grad_b = Backend::GemmCall{!ta, false, K, N, M, alpha, A, dC, beta, dB, G};  // db = alpha op(a)^T dc
      else grad_b = Backend::GemmCall{true, ta, N, K, M, alpha, dC, A, beta, dB, G};        // db = alpha dc^T op(a)
    }
    detail::gemm_gradients(backend_of(dc), grad_a, grad_b);
  });
}

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  check(a.value().dim() == 2 && b.value().dim() == 2,
        "matmul: expects 2-D operands, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  return batched_product("matmul", a, b, trans_a, trans_b, 1, 1.0);
}

Variable bmm(const Variable& a, const Variable& b, bool trans_a, bool trans_b, double alpha) {
  check(a.value().dim() == 3 && b.value().dim() == 3 && a.size(0) == b.size(0),
        "bmm: expects (G,.,.) operands with equal G, got " + shape_str(a.shape()) + " and " +
            shape_str(b.shape()));
  return batched_product("bmm", a, b, trans_a, trans_b, a.size(0), alpha);
}

}  // namespace hc
