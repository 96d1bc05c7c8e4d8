// sum: x (any shape) -> (1), the sum of all elements; mean: the sum / numel.
// Backward: every element contributed once, so dx += dy (times 1/numel for
// mean), the one-element dy broadcast over x. dy stays on the device: it is
// added with the broadcast pattern (A = numel, K = 1), never read to the host.
#include "autograd/ops/common.h"

namespace hc {

namespace {

Variable total(const char* op, const Variable& x, double factor) {
  profiler::Scope prof(op, [&] {
    return profiler::Cost{detail::shape_of("x", x), double(x.numel()),
                          detail::bytes_of(x.value(), double(x.numel()))};
  });
  const int64_t n = x.numel();
  Tensor y = Tensor::empty({1}, x.value().dtype(), x.value().device());
  Backend& be = backend_of(y);
  be.reduce(Reduce::Sum, x.value(), y, Broadcast{n, 1}, false);
  if (factor != 1.0) be.unary(Unary::Scale, y, y, factor, false);
  return make_result(y, op, {x}, [x, n, factor](const Tensor& dy) {
    profiler::Scope prof("sum.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    Backend& be = backend_of(dy);
    const Tensor& dx = x.grad_buffer().reshape({n});
    if (factor == 1.0) {
      be.binary(Binary::Add, dx, dy, dx, Broadcast{n, 1}, false);
    } else {
      Tensor scaled = Tensor::empty({1}, dy.dtype(), dy.device());
      be.unary(Unary::Scale, dy, scaled, factor, false);
      be.binary(Binary::Add, dx, scaled, dx, Broadcast{n, 1}, false);
    }
  });
}

}  // namespace

Variable sum(const Variable& x) { return total("sum", x, 1.0); }
Variable mean(const Variable& x) { return total("mean", x, 1.0 / double(x.numel())); }

}  // namespace hc
