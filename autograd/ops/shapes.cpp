// Shape helpers shared by the ops: broadcast resolution for add/sub/mul
// (which (outer, K, inner) view of `a` lets the vector b repeat over it),
// strides and axis views.
#include "autograd/ops/common.h"

namespace hc::detail {

Broadcast broadcast_of(const Shape& a, const Shape& b, const char* op) {
  const auto fail = [&] {
    return std::invalid_argument(std::string(op) + ": cannot broadcast " + shape_str(b) +
                                 " over " + shape_str(a));
  };
  if (b.size() > a.size()) throw fail();
  // Align b to the right of a. Each dim of a with size > 1 is either
  // "kept" (b has the same size there) or "repeated" (b has 1 or nothing
  // there). The kept dims must be one contiguous run: that run is K, what is
  // left of it is outer, what is right of it is inner. Size-1 dims of a can
  // go either way.
  const size_t shift = a.size() - b.size();
  int64_t first = -1, last = -1;
  for (size_t j = 0; j < a.size(); ++j) {
    const int64_t bj = j < shift ? 1 : b[j - shift];
    if (a[j] == 1) {
      if (bj != 1) throw fail();
      continue;
    }
    if (bj == 1) continue;  // repeated
    if (bj != a[j]) throw fail();
    if (first >= 0 && last != static_cast<int64_t>(j) - 1) {
      // allow size-1 gaps between kept dims
      for (int64_t k = last + 1; k < static_cast<int64_t>(j); ++k)
        if (a[k] != 1) throw fail();
    }
    if (first < 0) first = static_cast<int64_t>(j);
    last = static_cast<int64_t>(j);
  }
  Broadcast bc;
  if (first < 0) {  // b is a single number
    bc.outer = numel_of(a);
    return bc;
  }
  for (int64_t j = 0; j < first; ++j) bc.outer *= a[j];
  for (size_t j = last + 1; j < a.size(); ++j) bc.inner *= a[j];
  return bc;
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

int normalize_axis(int axis, size_t rank, const char* op) {
  const int r = static_cast<int>(rank);
  if (axis < -r || axis >= r)
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) +
                                " out of range for " + std::to_string(r) + " dims");
  return axis < 0 ? axis + r : axis;
}

AxisView axis_view(const Shape& shape, int axis) {
  AxisView v;
  for (int d = 0; d < axis; ++d) v.outer *= shape[d];
  v.len = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) v.inner *= shape[d];
  return v;
}

Tensor on_device_of(const Tensor& like, const Shape& shape, const std::vector<double>& values) {
  const Tensor host = Tensor::from_vector(shape, values, like.dtype());
  return like.device() == Device::CPU ? host : host.to(like.device());
}

}  // namespace hc::detail
