// reshape: x (any shape) -> the same elements viewed as `shape` (one -1 may
// be inferred). No copy: the output shares x's storage, so it costs nothing.
// Backward: dx += dy viewed back in x's shape (on first use dx simply is dy).
#include "autograd/ops/common.h"

namespace hc {

Variable reshape(const Variable& x, const Shape& shape) {
  Tensor y = x.value().reshape(shape);
  return make_result(y, "reshape", {x}, [x](const Tensor& dy) {
    profiler::Scope prof("reshape.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    x.add_grad(dy);  // the output's gradient, viewed in x's shape: no copy
  });
}

}  // namespace hc
