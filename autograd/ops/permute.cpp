// permute: x with dims (d_0..d_{n-1}) -> y with dims (d_{p0}, d_{p1}, ...),
// y[i_0, .., i_{n-1}] = x[j] where j_{p_k} = i_k. A copy in the new order
// (Tensors are always contiguous), done by one strided copy: walk y in order
// and read x with its strides permuted.
// Backward: the same copy the other way, adding dy into dx.
#include "autograd/ops/common.h"

namespace hc {

Variable permute(const Variable& x, const std::vector<int>& dims) {
  const Shape& xs = x.shape();
  const size_t n = xs.size();
  std::vector<bool> used(n, false);
  bool ok = dims.size() == n;
  for (int d : dims) {
    ok = ok && d >= 0 && d < static_cast<int>(n) && !used[d];
    if (ok) used[d] = true;
  }
  if (!ok) {
    std::string list;
    for (int d : dims) list += (list.empty() ? "" : ",") + std::to_string(d);
    throw std::invalid_argument("permute: (" + list + ") is not a permutation of the " +
                                std::to_string(n) + " dims of " + shape_str(xs));
  }
  profiler::Scope prof("permute", [&] {
    return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(x.value(), 2.0 * x.numel())};
  });
  Shape ys(n), read_strides(n);
  const Shape x_strides = detail::contiguous_strides(xs);
  for (size_t k = 0; k < n; ++k) {
    ys[k] = xs[dims[k]];
    read_strides[k] = x_strides[dims[k]];  // stepping y's axis k steps x's axis dims[k]
  }
  Tensor y = Tensor::empty(ys, x.value().dtype(), x.value().device());
  if (y.numel() > 0)
    backend_of(y).strided_copy(y, 0, detail::contiguous_strides(ys), x.value(), 0, read_strides, ys, false);
  // The backward copy walks dx in its own order (written contiguously, as y
  // is above) and reads dy with its strides put back in x's order.
  const Shape y_strides = detail::contiguous_strides(ys);
  Shape dy_strides(n);
  for (size_t k = 0; k < n; ++k) dy_strides[dims[k]] = y_strides[k];
  return make_result(y, "permute", {x}, [x, xs, x_strides, dy_strides](const Tensor& dy) {
    profiler::Scope prof("permute.backward", [&] {
      return profiler::Cost{detail::shape_of("x", x), 0.0, detail::bytes_of(dy, 3.0 * dy.numel())};
    });
    if (dy.numel() == 0) return;
    bool acc = false;
    const Tensor& dx = x.grad_target(acc);  // every element is written: no zero fill needed
    backend_of(dy).strided_copy(dx, 0, x_strides, dy, 0, dy_strides, xs, acc);
  });
}

}  // namespace hc
