// relu: y = max(x, 0), any shape. Backward: dx += dy where x > 0.
#include "autograd/ops/common.h"

namespace hc {

Variable relu(const Variable& x) {
  profiler::Scope prof("relu", [&] {
    return profiler::Cost{detail::shape_of("x", x), double(x.numel()),
                          detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  backend_of(y).unary(Unary::Relu, x.value(), y, 1.0, false);
  return make_result(y, "relu", {x}, [x](const Tensor& dy) {
    profiler::Scope prof("relu.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    backend_of(dy).unary_backward(Unary::Relu, x.value(), dy, x.grad_buffer());
  });
}

}  // namespace hc
