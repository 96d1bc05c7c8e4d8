// embedding: table (V, C), ids (...) I64 -> y (..., C), y[r] = table[ids[r]].
// Backward: row r of dy is added into row ids[r] of dtable; a token that
// occurs k times collects k rows. The backend adds them in a fixed order, so
// the result does not depend on threads.
#include "autograd/ops/common.h"

namespace hc {

Variable embedding(const Variable& table, const Tensor& ids) {
  check(table.value().dim() == 2, "embedding: table must be (V, C), got " + shape_str(table.shape()));
  check(ids.dtype() == DType::I64, "embedding: ids must be I64, got " + ids.describe());
  const int64_t V = table.size(0), C = table.size(1), R = ids.numel();
  if (ids.device() == Device::CPU)
    for (int64_t id : ids.to_ids())
      check(id >= 0 && id < V, "embedding: token id " + std::to_string(id) +
                                   " out of range for a vocabulary of " + std::to_string(V));
  profiler::Scope prof("embedding", [&] {
    return profiler::Cost{detail::shape_of("table", table), 0.0,
                          detail::bytes_of(table.value(), 2.0 * R * C)};
  });
  const Device dev = table.value().device();
  const Tensor id = ids.device() == dev ? ids : ids.to(dev);
  Shape ys = ids.shape();
  ys.push_back(C);
  Tensor y = Tensor::empty(ys, table.value().dtype(), dev);
  backend_of(y).embedding_forward(table.value(), id, y);
  return make_result(y, "embedding", {table}, [table, id, R, C](const Tensor& dy) {
    profiler::Scope prof("embedding.backward", [&] {
      return profiler::Cost{detail::shape_of("table", table), double(R * C),
                            detail::bytes_of(dy, 3.0 * R * C)};
    });
    backend_of(dy).embedding_backward(id, dy, table.grad_buffer());
  });
}

}  // namespace hc
