// rel_shift: x (G, T, S) -> y (G, T, S), y[g, i, j] = x[g, i, j + T-1-i].
//
// Position scores are computed against a table of S relative positions where
// column k means distance S-1-k. Query i (0..T-1) looking at key j (0..S-1,
// memory first) is at distance M+i-j = S-1-(j+T-1-i), so its score sits in
// column j+T-1-i of row i. In the flattened (T, S) block that is element
//   i*S + j + T-1-i = (T-1) + i*(S-1) + j,
// i.e. a strided view with offset T-1 and row stride S-1: one strided copy,
// no padding trick needed. For j > i+M the index runs into row i+1; those
// entries are garbage by construction and the same-length mask hides them.
//
// The backward pass adds dy back through the same view. The view reads one
// element twice: (i, S-1) and (i+1, 0) both map to (T-1) + (i+1)(S-1). A
// destination must not repeat inside one strided copy (backends write in
// parallel), so the last column goes back in a second copy: columns 0..S-2
// alone map one-to-one (i*(S-1) + j, j < S-1), and so does column S-1.
#include "autograd/ops/common.h"

namespace hc {

Variable rel_shift(const Variable& x) {
  check(x.value().dim() == 3 && x.size(2) >= x.size(1),
        "rel_shift: expects (G, T, S) with S >= T, got " + shape_str(x.shape()));
  const int64_t T = x.size(1), S = x.size(2);
  profiler::Scope prof("rel_shift", [&] {
    return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  const Shape view_strides{T * S, S - 1, 1}, plain_strides{T * S, S, 1};
  Tensor y = Tensor::empty(x.shape(), x.value().dtype(), x.value().device());
  backend_of(y).strided_copy(y, 0, plain_strides, x.value(), T - 1, view_strides, x.shape(), false);
  return make_result(y, "rel_shift", {x}, [x, view_strides, plain_strides](const Tensor& dy) {
    profiler::Scope prof("rel_shift.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    const int64_t G = x.size(0), T = x.size(1), S = x.size(2);
    Backend& be = backend_of(dy);
    be.strided_copy(x.grad_buffer(), T - 1, view_strides, dy, 0, plain_strides, {G, T, S - 1}, true);
    be.strided_copy(x.grad_buffer(), T - 1 + S - 1, view_strides, dy, S - 1, plain_strides,
                    {G, T, 1}, true);
  });
}

}  // namespace hc
