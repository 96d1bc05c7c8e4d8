// reshape: x (any shape) -> the same elements viewed as `shape` (one -1 may
// be inferred). No copy: the output shares x's storage, so it costs nothing.
// Backward: dx += dy viewed back in x's shape.
#include "autograd/ops/common.h"

namespace hc {

Variable reshape(const Variable& x, const Shape& shape) {
  Tensor y = x.value().reshape(shape);
  return make_result(y, "reshape", {x}, [x](const Tensor& dy) {
    backend_of(dy).unary(Unary::Scale, dy.reshape(x.shape()), x.grad_buffer(), 1.0, true);
  });
}

}  // namespace hc
