// slice: x (..., n, ...) -> y (..., end-begin, ...), the window [begin, end)
// of `axis`. Seen as (outer, n, inner), y's rows are runs of
// (end-begin)*inner elements starting at begin*inner in each of x's rows:
// one strided copy. Backward adds dy into that window of dx.
#include "autograd/ops/common.h"

namespace hc {

Variable slice(const Variable& x, int axis, int64_t begin, int64_t end) {
  axis = detail::normalize_axis(axis, x.shape().size(), "slice");
  const detail::AxisView v = detail::axis_view(x.shape(), axis);
  check(0 <= begin && begin <= end && end <= v.len,
        "slice: [" + std::to_string(begin) + ", " + std::to_string(end) + ") is out of range for axis " +
            std::to_string(axis) + " of " + shape_str(x.shape()));
  profiler::Scope prof("slice", [&] {
    return profiler::Cost{detail::shape_of("x", x), 0.0,
                          detail::bytes_of(x.value(), 2.0 * v.outer * (end - begin) * v.inner)};
  });
  Shape ys = x.shape();
  ys[axis] = end - begin;
  Tensor y = Tensor::empty(ys, x.value().dtype(), x.value().device());
  const int64_t width = (end - begin) * v.inner, row = v.len * v.inner, start = begin * v.inner;
  if (width > 0 && v.outer > 0)
    backend_of(y).strided_copy(y, 0, {width, 1}, x.value(), start, {row, 1}, {v.outer, width}, false);
  return make_result(y, "slice", {x}, [x, width, row, start, v](const Tensor& dy) {
    profiler::Scope prof("slice.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    if (width == 0 || v.outer == 0) return;
    backend_of(dy).strided_copy(x.grad_buffer(), start, {row, 1}, dy, 0, {width, 1},
                                {v.outer, width}, true);
  });
}

}  // namespace hc
