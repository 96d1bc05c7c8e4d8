// cross_entropy: logits (R, V), targets (R) I64 -> loss (1), the mean over
// rows whose target is not ignore_index of -log softmax(logits)[target]:
//   loss_r = logsumexp(logits_r) - logits_r[t_r]
// Backward: d loss / d logits_r = (softmax(logits_r) - onehot(t_r)) / count,
// scaled by the upstream gradient. The log-softmax is never stored: the
// forward pass keeps one logsumexp per row and backward recomputes the
// probabilities from it.
//
// With overwrite_logits (for a model's own loss, where the logits are a
// temporary nothing reads after backward), the gradient is written over the
// logits' storage and becomes their gradient: no second (R, V) buffer, which
// for a large vocabulary is the biggest tensor of the step, and one pass
// over it instead of zero-fill, read, add.
#include "autograd/ops/common.h"

namespace hc {

Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index,
                       bool overwrite_logits) {
  check(logits.value().dim() == 2, "cross_entropy: logits must be (R, V), got " +
                                       shape_str(logits.shape()));
  const int64_t R = logits.size(0), V = logits.size(1);
  check(targets.dtype() == DType::I64 && targets.numel() == R,
        "cross_entropy: targets must be " + std::to_string(R) + " I64 values, got " +
            targets.describe());
  // Validate and count on the host: targets come from the data pipeline.
  const std::vector<int64_t> t = targets.to_ids();
  int64_t count = 0;
  for (int64_t v : t) {
    if (v == ignore_index) continue;
    check(v >= 0 && v < V, "cross_entropy: target " + std::to_string(v) + " out of range for " +
                               std::to_string(V) + " classes");
    ++count;
  }
  check(count > 0, "cross_entropy: every target is ignore_index, the mean is undefined");
  profiler::Scope prof("cross_entropy", [&] {
    const cost::OpCost c = cost::cross_entropy(R, V, detail::elem_of(logits.value()));
    return profiler::Cost{detail::shape_of("logits", logits), c.forward_flops, c.forward_bytes};
  });
  const Device dev = logits.value().device();
  const DType dt = logits.value().dtype();
  const Tensor tgt = targets.device() == dev ? targets : targets.to(dev);
  Tensor losses = Tensor::empty({R}, dt, dev), lse = Tensor::empty({R}, dt, dev);
  Backend& be = backend_of(losses);
  be.cross_entropy_forward(logits.value(), tgt, ignore_index, losses, lse);
  Tensor loss = Tensor::empty({1}, dt, dev);
  be.reduce(Reduce::Sum, losses, loss, Broadcast{R, 1}, false);
  be.unary(Unary::Scale, loss, loss, 1.0 / double(count), false);
  // A leaf's values belong to the caller: only an op's output is overwritten.
  const bool in_place = overwrite_logits && !logits.is_leaf();
  return make_result(loss, "cross_entropy", {logits},
                     [logits, tgt, lse, ignore_index, count, R, V, in_place](const Tensor& dy) {
    profiler::Scope prof("cross_entropy.backward", [&] {
      const cost::OpCost c = cost::cross_entropy(R, V, detail::elem_of(dy));
      return profiler::Cost{detail::shape_of("logits", logits), c.backward_flops, c.backward_bytes};
    });
    Backend& be = backend_of(dy);
    const double scale = 1.0 / double(count);
    if (in_place && !logits.grad().defined()) {
      be.cross_entropy_backward(logits.value(), lse, tgt, ignore_index, dy, scale, logits.value(), false);
      logits.add_grad(logits.value());
      return;
    }
    bool acc = false;
    const Tensor& dlogits = logits.grad_target(acc);
    be.cross_entropy_backward(logits.value(), lse, tgt, ignore_index, dy, scale, dlogits, acc);
  });
}

}  // namespace hc
