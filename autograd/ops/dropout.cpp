// dropout: x (any shape) -> y = x * mask, mask_e = 0 with probability p and
// 1/(1-p) otherwise ("inverted" dropout: the expectation of y is x, so
// evaluation needs no rescaling). The mask is a pure function of the
// counter-based key (engine/rng.h): the same key gives the same mask on every
// device and on every rerun. Backward: dx += dy * mask (the saved mask).
#include "autograd/ops/common.h"

namespace hc {

Variable dropout(const Variable& x, double p, RandomKey key, bool training) {
  check(p >= 0 && p < 1, "dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0) return x;
  profiler::Scope prof("dropout", [&] {
    return profiler::Cost{detail::shape_of("x", x), 2.0 * x.numel(),
                          detail::bytes_of(x.value(), 3.0 * x.numel())};
  });
  const Tensor& xv = x.value();
  Tensor mask = Tensor::empty(x.shape(), xv.dtype(), xv.device());
  Tensor y = Tensor::empty(x.shape(), xv.dtype(), xv.device());
  Backend& be = backend_of(y);
  be.dropout_mask(mask, p, key);
  be.binary(Binary::Mul, xv, mask, y, Broadcast{}, false);
  return make_result(y, "dropout", {x}, [x, mask](const Tensor& dy) {
    profiler::Scope prof("dropout.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    bool acc = false;
    const Tensor& dx = x.grad_target(acc);
    backend_of(dy).binary(Binary::Mul, dy, mask, dx, Broadcast{}, acc);
  });
}

}  // namespace hc
