// layernorm: x (R, C) with weight w (C) and bias b (C) -> y (R, C), over the
// last axis of any shape:
//   mean = (1/C) sum_c x_c,  rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd
//   y = xhat * w + b
// Backward (per row, with g = dy * w):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   dw = sum over rows of dy * xhat,  db = sum over rows of dy
// The first line is the chain rule through mean and rstd, which both depend
// on every x_c of the row; the backend computes it in one fused pass, reusing
// the mean and rstd saved by the forward pass.
#include "autograd/ops/common.h"

namespace hc {

Variable layernorm(const Variable& x, const Variable& w, const Variable& b, double eps) {
  const int64_t C = x.size(-1), R = x.numel() / C;
  check(w.numel() == C && b.numel() == C,
        "layernorm: weight and bias need " + std::to_string(C) + " elements for input " +
            shape_str(x.shape()));
  profiler::Scope prof("layernorm", [&] {
    const cost::OpCost c = cost::layernorm(R, C, detail::elem_of(x.value()));
    return profiler::Cost{detail::shape_of("x", x), c.forward_flops, c.forward_bytes};
  });
  const Tensor& xv = x.value();
  Tensor y = Tensor::empty(x.shape(), xv.dtype(), xv.device());
  Tensor mean = Tensor::empty({R}, xv.dtype(), xv.device());
  Tensor rstd = Tensor::empty({R}, xv.dtype(), xv.device());
  backend_of(y).layernorm_forward(xv, w.value(), b.value(), eps, y, mean, rstd);
  return make_result(y, "layernorm", {x, w, b}, [x, w, b, mean, rstd, R, C](const Tensor& dy) {
    profiler::Scope prof("layernorm.backward", [&] {
      const cost::OpCost c = cost::layernorm(R, C, detail::elem_of(dy));
      return profiler::Cost{detail::shape_of("x", x), c.backward_flops, c.backward_bytes};
    });
    // The backend fills all three; a gradient nobody wants goes to scratch.
    auto target = [&](const Variable& v) {
      return v.requires_grad() ? v.grad_buffer()
                               : Tensor::zeros(v.shape(), dy.dtype(), dy.device());
    };
    backend_of(dy).layernorm_backward(x.value(), w.value(), mean, rstd, dy, target(x), target(w),
                                      target(b));
  });
}

}  // namespace hc
