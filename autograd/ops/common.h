// Small helpers shared by the op files: broadcasting, shape checks and the
// profiler's cost descriptions.
#pragma once

#include <optional>
#include <string>

#include "autograd/op_costs.h"
#include "autograd/ops.h"
#include "engine/profiler.h"

namespace hc::detail {

// How b broadcasts over a (see add() in autograd/ops.h): a viewed as
// (outer, K, inner) with K = b.numel(). Throws naming both shapes if b does
// not fit the pattern.
Broadcast broadcast_of(const Shape& a, const Shape& b, const char* op);

// Row-major strides of a contiguous tensor of this shape.
Shape contiguous_strides(const Shape& shape);

// An axis argument: negative counts from the end; throws if out of range.
int normalize_axis(int axis, size_t rank, const char* op);

// A tensor seen as (outer, len, inner) around `axis`: the view concat and
// slice use to move whole runs of memory at once.
struct AxisView {
  int64_t outer = 1, len = 0, inner = 1;
};
AxisView axis_view(const Shape& shape, int axis);

// "name(2,3,4)" for profiler records.
inline std::string shape_of(const char* name, const Variable& v) {
  return std::string(name) + shape_str(v.shape());
}

// Host values as a tensor of `like`'s dtype and device, in `shape`: the
// gate ops compute their few dozen numbers on the host and copy them over.
Tensor on_device_of(const Tensor& like, const Shape& shape, const std::vector<double>& values);

// Bytes of one element of the tensor's dtype (the `elem` of autograd/op_costs.h).
inline double elem_of(const Tensor& t) { return static_cast<double>(dtype_size(t.dtype())); }

// Bytes of n float elements of the tensor's dtype.
inline double bytes_of(const Tensor& t, double elements) {
  return elements * static_cast<double>(dtype_size(t.dtype()));
}

// The two gradient GEMMs of a product's backward, either absent when its
// operand needs no gradient: both go to gemm_pair (side by side on the CPU).
inline void gemm_gradients(Backend& be, const std::optional<Backend::GemmCall>& first,
                           const std::optional<Backend::GemmCall>& second) {
  if (first && second) return be.gemm_pair(*first, *second);
  if (first) be.gemm_call(*first);
  if (second) be.gemm_call(*second);
}

}  // namespace hc::detail
