// masked_softmax: x (R, W) -> y (R, W), a softmax over the last axis of any
// shape, where entries hidden by the BandMask (see engine/backend.h) get
// probability exactly 0:  y_j = exp(x_j - max) / sum_{visible k} exp(x_k - max).
// Backward, with the saved y: dx_j = y_j (dy_j - sum_k dy_k y_k). Masked
// entries have y_j = 0, so their gradient is 0 without a second look at the mask.
#include "autograd/ops/common.h"

namespace hc {

Variable masked_softmax(const Variable& x, BandMask mask) {
  const int64_t W = x.size(-1), R = x.numel() / W;
  profiler::Scope prof("masked_softmax", [&] {
    return profiler::Cost{detail::shape_of("x", x), 5.0 * R * W,
                          detail::bytes_of(x.value(), 2.0 * R * W)};
  });
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  backend_of(y).softmax_forward(x.value(), y, mask);
  return make_result(y, "masked_softmax", {x}, [x, y, R, W](const Tensor& dy) {
    profiler::Scope prof("masked_softmax.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 4.0 * R * W, detail::bytes_of(dy, 4.0 * R * W)};
    });
    backend_of(dy).softmax_backward(y, dy, x.grad_buffer());
  });
}

}  // namespace hc
