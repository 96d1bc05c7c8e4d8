// linear: x (R, C) · w (OC, C)^T + b (OC) -> y (R, OC), for any leading dims of x.
//
// Forward:  y = x w^T + b, one GEMM with the bias (Backend::gemm_bias: the
//           CPU adds b as it stores y; the default prefills y with b and
//           runs the GEMM onto it, beta = 1).
// Backward: dx = dy w        (R,OC)·(OC,C)
//           dw = dy^T x      (OC,R)·(R,C): summed over all R rows
//           db = sum_r dy    the column sums of dy
// All three are GEMMs or a reduction that write a first gradient (beta = 0)
// or add into an existing one (beta = 1), so accumulation costs nothing extra.
#include "autograd/ops/common.h"

namespace hc {

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  const int64_t C = x.size(-1), OC = w.size(0), R = x.numel() / C;
  check(w.value().dim() == 2 && w.size(1) == C,
        "linear: weight " + shape_str(w.shape()) + " does not match input " + shape_str(x.shape()));
  check(!b.defined() || b.numel() == OC, "linear: bias must have " + std::to_string(OC) + " elements");
  profiler::Scope prof("linear", [&] {
    return profiler::Cost{detail::shape_of("x", x) + " " + detail::shape_of("w", w),
                          cost::linear(R, C, OC, detail::elem_of(x.value())).forward_flops,
                          cost::linear(R, C, OC, detail::elem_of(x.value())).forward_bytes};
  });
  Shape out_shape = x.shape();
  out_shape.back() = OC;
  Tensor y = Tensor::empty(out_shape, x.value().dtype(), x.value().device());
  Backend& be = backend_of(y);
  const Backend::GemmCall product{.trans_b = true, .M = R, .N = OC, .K = C, .A = {x.value(), 0, C},
                                  .B = {w.value(), 0, C}, .C = {y, 0, OC}};
  if (b.defined())
    be.gemm_bias(product, b.value());
  else
    be.gemm_call(product);

  return make_result(y, "linear", {x, w, b}, [x, w, b, R, C, OC](const Tensor& dy) {
    profiler::Scope prof("linear.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x) + " " + detail::shape_of("w", w),
                            cost::linear(R, C, OC, detail::elem_of(dy)).backward_flops,
                            cost::linear(R, C, OC, detail::elem_of(dy)).backward_bytes};
    });
    Backend& be = backend_of(dy);
    bool acc = false;  // a first gradient is written (beta = 0), later ones added (beta = 1)
    std::optional<Backend::GemmCall> grad_x, grad_w;  // dx and dw run side by side
    if (x.requires_grad()) {
      const Tensor& dx = x.grad_target(acc);
      grad_x = Backend::GemmCall{.M = R, .N = C, .K = OC, .A = {dy, 0, OC}, .B = {w.value(), 0, C},
                                 .beta = acc ? 1.0 : 0.0, .C = {dx, 0, C}};
    }
    if (w.requires_grad()) {
      const Tensor& dw = w.grad_target(acc);
      grad_w = Backend::GemmCall{.trans_a = true, .M = OC, .N = C, .K = R, .A = {dy, 0, OC},
                                 .B = {x.value(), 0, C}, .beta = acc ? 1.0 : 0.0, .C = {dw, 0, C}};
    }
    detail::gemm_gradients(be, grad_x, grad_w);
    if (b.defined() && b.requires_grad()) {
      const Tensor& db = b.grad_target(acc);
      be.reduce(Reduce::Sum, dy, db, Broadcast{R, 1}, acc);
    }
  });
}

}  // namespace hc
