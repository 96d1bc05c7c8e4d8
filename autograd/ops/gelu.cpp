// gelu: y = x * Phi(x), Phi the standard normal CDF (the exact erf form that
// PyTorch uses by default, not the tanh approximation), any shape.
// Backward: dy/dx = Phi(x) + x * phi(x), phi the normal density.
#include "autograd/ops/common.h"

namespace hc {

Variable gelu(const Variable& x) {
  profiler::Scope prof("gelu", [&] {
    // erf costs tens of flops; count the arithmetic around it as 8.
    return profiler::Cost{detail::shape_of("x", x), 8.0 * x.numel(),
                          detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  backend_of(y).unary(Unary::Gelu, x.value(), y, 1.0, false);
  return make_result(y, "gelu", {x}, [x](const Tensor& dy) {
    profiler::Scope prof("gelu.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    backend_of(dy).unary_backward(Unary::Gelu, x.value(), dy, x.grad_buffer());
  });
}

}  // namespace hc
