// mul: a * b elementwise, b broadcast (see autograd/ops.h) -> shape of a.
//
// Product rule: da += dy * b (b repeated as in the forward pass);
// db += sum over the repeated dims of dy * a.
#include "autograd/ops/common.h"

namespace hc {

Variable mul(const Variable& a, const Variable& b) {
  const Broadcast bc = detail::broadcast_of(a.shape(), b.shape(), "mul");
  profiler::Scope prof("mul", [&] {
    return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b),
                          double(a.numel()), detail::bytes_of(a.value(), 2.0 * a.numel() + b.numel())};
  });
  Tensor y = Tensor::empty(a.shape(), a.value().dtype(), a.value().device());
  backend_of(y).binary(Binary::Mul, a.value(), b.value(), y, bc, false);
  return make_result(y, "mul", {a, b}, [a, b, bc](const Tensor& dy) {
    profiler::Scope prof("mul.backward", [&] {
      return profiler::Cost{detail::shape_of("a", a), 4.0 * a.numel(), detail::bytes_of(dy, 5.0 * a.numel())};
    });
    Backend& be = backend_of(dy);
    bool acc = false;
    if (a.requires_grad()) {
      const Tensor& da = a.grad_target(acc);
      be.binary(Binary::Mul, dy, b.value(), da, bc, acc);
    }
    if (b.requires_grad()) {
      const Tensor& db = b.grad_target(acc);
      if (bc.outer == 1 && bc.inner == 1) {  // same shape: db += dy * a directly
        be.binary(Binary::Mul, dy, a.value(), db, bc, acc);
      } else {
        Tensor prod = Tensor::empty(a.shape(), dy.dtype(), dy.device());
        be.binary(Binary::Mul, dy, a.value(), prod, Broadcast{}, false);
        be.reduce(Reduce::Sum, prod, db, bc, acc);
      }
    }
  });
}

}  // namespace hc
