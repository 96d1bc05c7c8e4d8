// add / sub: a (shape of a) ± b (broadcast, see autograd/ops.h) -> same shape as a.
//
// The gradient of a sum passes straight through: da += dy. For b, every
// element was used once per repetition, so db += dy summed over the repeated
// dims (outer and inner of the broadcast), negated for sub.
#include "autograd/ops/common.h"

namespace hc {

namespace {

Variable add_or_sub(const char* op, const Variable& a, const Variable& b, bool subtract) {
  const Broadcast bc = detail::broadcast_of(a.shape(), b.shape(), op);
  profiler::Scope prof(op, [&] {
    return profiler::Cost{detail::shape_of("a", a) + " " + detail::shape_of("b", b),
                          double(a.numel()), detail::bytes_of(a.value(), 2.0 * a.numel() + b.numel())};
  });
  Tensor y = Tensor::empty(a.shape(), a.value().dtype(), a.value().device());
  backend_of(y).binary(subtract ? Binary::Sub : Binary::Add, a.value(), b.value(), y, bc, false);
  return make_result(y, op, {a, b}, [a, b, bc, subtract](const Tensor& dy) {
    profiler::Scope prof(subtract ? "sub.backward" : "add.backward", [&] {
      return profiler::Cost{detail::shape_of("a", a), double(a.numel()), detail::bytes_of(dy, 3.0 * a.numel())};
    });
    Backend& be = backend_of(dy);
    const double sign = subtract ? -1.0 : 1.0;
    if (b.requires_grad()) {  // before a, which may take dy over as its own gradient
      bool acc = false;
      const Tensor& db = b.grad_target(acc);
      if (bc.outer * bc.inner == 1) {
        be.unary(Unary::Scale, dy, db, sign, acc);
      } else if (!subtract) {
        be.reduce(Reduce::Sum, dy, db, bc, acc);
      } else {
        // db -= sum(dy): reduce into a scratch vector, then subtract it.
        Tensor s = Tensor::empty(b.shape(), dy.dtype(), dy.device());
        be.reduce(Reduce::Sum, dy, s, bc, false);
        be.unary(Unary::Scale, s, db, -1.0, acc);
      }
    }
    if (a.requires_grad()) a.add_grad(dy);
  });
}

}  // namespace

Variable add(const Variable& a, const Variable& b) { return add_or_sub("add", a, b, false); }
Variable sub(const Variable& a, const Variable& b) { return add_or_sub("sub", a, b, true); }

}  // namespace hc
