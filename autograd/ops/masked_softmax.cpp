// masked_softmax: x (R, W) -> y (R, W), a softmax over the last axis of any
// shape, where entries hidden by the BandMask (see engine/backend.h) get
// probability exactly 0:  y_j = exp(x_j - max) / sum_{visible k} exp(x_k - max).
// Backward, with the saved y: dx_j = y_j (dy_j - sum_k dy_k y_k). Masked
// entries have y_j = 0, so their gradient is 0 without a second look at the mask.
//
// With dropout (attention dropout on the probabilities), the op returns
// z = y * m, m the inverted-dropout multipliers of (p, key) exactly as
// autograd/ops/dropout.cpp draws them, and keeps y and the backend's record
// of m. Backward: g = dz * m, then the softmax's rule with g for dy. In one
// op the backend can do both in one pass over each row, and g is never
// written out (engine/cpu_backend.cpp's softmax_dropout_backward).
#include "autograd/ops/common.h"

namespace hc {

Variable masked_softmax(const Variable& x, BandMask mask, double dropout_p, RandomKey key) {
  check(dropout_p >= 0 && dropout_p < 1,
        "masked_softmax: dropout p must be in [0, 1), got " + std::to_string(dropout_p));
  const int64_t W = x.size(-1), R = x.numel() / W;
  const bool drop = dropout_p > 0;
  profiler::Scope prof("masked_softmax", [&] {
    // FLOPs: the softmax's; the dropout's multiply is element-wise work,
    // left out as models/head_cost.h leaves it out. Bytes: x in, y (and z) out.
    const cost::OpCost c = cost::masked_softmax(R, W, drop, detail::elem_of(x.value()));
    return profiler::Cost{detail::shape_of("x", x), c.forward_flops, c.forward_bytes};
  });
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  Backend& be = backend_of(y);
  be.softmax_forward(x.value(), y, mask);
  if (!drop) {
    return make_result(y, "masked_softmax", {x}, [x, y, R, W](const Tensor& dy) {
      profiler::Scope prof("masked_softmax.backward", [&] {
        const cost::OpCost c = cost::masked_softmax(R, W, false, detail::elem_of(dy));
        return profiler::Cost{detail::shape_of("x", x), c.backward_flops, c.backward_bytes};
      });
      bool acc = false;
      const Tensor& dx = x.grad_target(acc);
      backend_of(dy).softmax_backward(y, dy, dx, acc);
    });
  }
  Tensor z = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  const Tensor kept = be.dropout_forward(y, z, dropout_p, key);
  return make_result(z, "masked_softmax", {x}, [x, y, kept, dropout_p, key, R, W](const Tensor& dz) {
    profiler::Scope prof("masked_softmax.backward", [&] {
      const cost::OpCost c = cost::masked_softmax(R, W, true, detail::elem_of(dz));
      return profiler::Cost{detail::shape_of("x", x), c.backward_flops, c.backward_bytes};
    });
    bool acc = false;
    const Tensor& dx = x.grad_target(acc);
    backend_of(dz).softmax_dropout_backward(y, dz, kept, dropout_p, key, dx, acc);
  });
}

}  // namespace hc
