// concat: xs[k] (..., n_k, ...) along `axis` -> y (..., sum n_k, ...).
// Seen as (outer, n, inner) around the axis, input k is a block of
// (outer, n_k*inner) that lands at column offset (n_0+..+n_{k-1})*inner of
// y's (outer, N*inner) rows: one strided copy per input.
// Backward: each input gets its block of dy back (added to its gradient).
#include "autograd/ops/common.h"

namespace hc {

Variable concat(const std::vector<Variable>& xs, int axis) {
  check(!xs.empty(), "concat: no inputs");
  const Shape& first = xs[0].shape();
  axis = detail::normalize_axis(axis, first.size(), "concat");
  Shape ys = first;
  ys[axis] = 0;
  for (const Variable& x : xs) {
    Shape probe = x.shape();
    check(probe.size() == first.size(), "concat: inputs have different ranks");
    ys[axis] += probe[axis];
    probe[axis] = first[axis];
    check(probe == first, "concat: " + shape_str(x.shape()) + " does not match " +
                              shape_str(first) + " outside axis " + std::to_string(axis));
  }
  profiler::Scope prof("concat", [&] {
    return profiler::Cost{"y" + shape_str(ys) + " from " + std::to_string(xs.size()) + " inputs", 0.0,
                          detail::bytes_of(xs[0].value(), 2.0 * numel_of(ys))};
  });
  Tensor y = Tensor::empty(ys, xs[0].value().dtype(), xs[0].value().device());
  const detail::AxisView out = detail::axis_view(ys, axis);
  const int64_t row = out.len * out.inner;  // elements per outer index in y
  int64_t at = 0;
  std::vector<int64_t> offsets;
  for (const Variable& x : xs) {
    const int64_t width = x.size(axis) * out.inner;
    offsets.push_back(at);
    if (width > 0 && out.outer > 0)
      backend_of(y).strided_copy(y, at, {row, 1}, x.value(), 0, {width, 1}, {out.outer, width}, false);
    at += width;
  }
  return make_result(y, "concat", xs, [xs, offsets, out, row, axis](const Tensor& dy) {
    profiler::Scope prof("concat.backward", [&] {
      return profiler::Cost{"dy" + shape_str(dy.shape()), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    for (size_t k = 0; k < xs.size(); ++k) {
      const int64_t width = xs[k].size(axis) * out.inner;
      if (!xs[k].requires_grad() || width == 0 || out.outer == 0) continue;
      bool acc = false;
      const Tensor& dx = xs[k].grad_target(acc);  // its block of dy covers all of it
      backend_of(dy).strided_copy(dx, 0, {width, 1}, dy, offsets[k], {row, 1}, {out.outer, width}, acc);
    }
  });
}

}  // namespace hc
