// scale: y = alpha * x, any shape. Backward: dx += alpha * dy.
#include "autograd/ops/common.h"

namespace hc {

Variable scale(const Variable& x, double alpha) {
  profiler::Scope prof("scale", [&] {
    return profiler::Cost{detail::shape_of("x", x), double(x.numel()),
                          detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  backend_of(y).unary(Unary::Scale, x.value(), y, alpha, false);
  return make_result(y, "scale", {x}, [x, alpha](const Tensor& dy) {
    profiler::Scope prof("scale.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), double(x.numel()), detail::bytes_of(dy, 3.0 * x.numel())};
    });
    bool acc = false;
    const Tensor& dx = x.grad_target(acc);
    backend_of(dy).unary(Unary::Scale, dy, dx, alpha, acc);
  });
}

}  // namespace hc
