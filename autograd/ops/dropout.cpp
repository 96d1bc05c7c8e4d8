// dropout: x (any shape) -> y = x * mask, mask_e = 0 with probability p and
// 1/(1-p) otherwise ("inverted" dropout: the expectation of y is x, so
// evaluation needs no rescaling). The mask is a pure function of the
// counter-based key (engine/rng.h): the same key gives the same mask on every
// device and on every rerun. Backward: dx += dy * mask (the backend keeps a
// record of the mask: its multipliers, or on the CPU one bit per element).
#include "autograd/ops/common.h"

namespace hc {

Variable dropout(const Variable& x, double p, RandomKey key, bool training) {
  check(p >= 0 && p < 1, "dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0) return x;
  profiler::Scope prof("dropout", [&] {
    // Bytes: x in, y out (the CPU's record of the mask is a bit per element).
    return profiler::Cost{detail::shape_of("x", x), 2.0 * x.numel(),
                          detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  const Tensor& xv = x.value();
  Tensor y = Tensor::empty(x.shape(), xv.dtype(), xv.device());
  // What the backend keeps of the mask (its multipliers, or a bit per element) for the backward.
  Tensor kept = backend_of(y).dropout_forward(xv, y, p, key);
  return make_result(y, "dropout", {x}, [x, kept, p, key](const Tensor& dy) {
    profiler::Scope prof("dropout.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 2.0 * dy.numel())};
    });
    bool acc = false;
    const Tensor& dx = x.grad_target(acc);
    backend_of(dy).dropout_backward(dy, kept, p, key, dx, acc);
  });
}

}  // namespace hc
