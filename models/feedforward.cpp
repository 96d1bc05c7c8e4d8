#include "models/feedforward.h"

namespace hc {

FeedForward::FeedForward(const std::string& p, int64_t C, int64_t F, double eps_, DType dt, Device dev) : eps(eps_) {
  auto make = [&](const std::string& name, const Shape& shape) {
    return Variable(Tensor::empty(shape, dt, dev), true, p + name);
  };
  norm_w = make("ffn.norm.weight", {C});
  norm_b = make("ffn.norm.bias", {C});
  in_w = make("ffn.in.weight", {F, C});
  in_b = make("ffn.in.bias", {F});
  out_w = make("ffn.out.weight", {C, F});
  out_b = make("ffn.out.bias", {C});
}

Variable FeedForward::forward(const Variable& x, double residual_dropout, bool training, RngStream& rng) const {
  const Variable inner = relu(linear(layernorm(x, norm_w, norm_b, eps), in_w, in_b));  // (B,T,F)
  const Variable out = linear(inner, out_w, out_b);                                // (B,T,C)
  return add(x, dropout(out, residual_dropout, rng.per_stream(x.size(0), out.numel() / x.size(0)), training));
}

}  // namespace hc
