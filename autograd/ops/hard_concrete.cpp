// The hard-concrete gate and its L0 penalty, one gate per attention head.
//
// A gate z in [0, 1] multiplies a head's output. Training samples it:
//   u ~ U(0, 1),  s = sigmoid((log u - log(1-u) + log_alpha) / beta)
//   s_bar = s (zeta - gamma) + gamma           (stretched to (-0.1, 1.1))
//   z_soft = clamp(s_bar, 1e-6, 1),  z = 1[z_soft >= 0.5]
// The forward pass uses the hard z (a head is on or off); the backward pass
// uses d z_soft / d log_alpha = (zeta - gamma) s (1 - s) / beta, zero where
// the clamp is active (the "straight-through" estimator of the seed code).
// One draw per head and step, shared by the whole batch.
// Evaluation is deterministic: s = sigmoid(log_alpha), so z = 1 iff
// log_alpha >= 0, and a kept gate is exactly 1 (removing the closed heads
// then changes nothing).
//
// The L0 penalty is the expected number of open gates:
//   P(z_h != 0) = sigmoid(log_alpha_h - beta log(-gamma / zeta)),
// clamped to [1e-6, 1 - 1e-6]; its derivative is p (1 - p) inside the clamp.
//
// A layer keeps some head unless every gate closes; with independent gates
//   P(layer open) = 1 - prod_h (1 - p_h),
//   d/d log_alpha_h = p_h (1 - p_h) prod_{g != h} (1 - p_g)   (inside the clamp),
// the product over the other heads taken directly (no division by 1 - p_h).
//
// There are at most a few dozen gates per layer, so both are computed on the
// host: the values are copied out and the results copied back, explicitly.
#include <cmath>

#include "autograd/ops/common.h"
#include "engine/rng.h"

namespace hc {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

std::vector<double> open_probability(const Tensor& log_alpha, HardConcrete hc) {
  std::vector<double> p = log_alpha.to_vector();
  const double shift = hc.beta * std::log(-hc.gamma / hc.zeta);
  for (double& v : p) v = std::clamp(sigmoid(v - shift), 1e-6, 1.0 - 1e-6);
  return p;
}

Variable hard_concrete_gate(const Variable& log_alpha, RandomKey key, bool training, HardConcrete hc) {
  check(log_alpha.value().dim() == 1, "hard_concrete_gate: log_alpha must be (H), got " + shape_str(log_alpha.shape()));
  profiler::Scope prof("hard_concrete_gate", [&] {
    return profiler::Cost{detail::shape_of("log_alpha", log_alpha), 20.0 * log_alpha.numel(),
                          detail::bytes_of(log_alpha.value(), 2.0 * log_alpha.numel())};
  });
  const std::vector<double> la = log_alpha.value().to_vector();
  const int64_t H = log_alpha.numel();
  std::vector<double> z(H), dz(H, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    double s;
    if (training) {
      const double u = std::clamp<double>(philox::uniform(philox::bits(key.seed, key.offset, h)), 1e-6, 1 - 1e-6);
      s = sigmoid((std::log(u) - std::log(1 - u) + la[h]) / hc.beta);
    } else {
      s = sigmoid(la[h]);
    }
    const double stretched = s * (hc.zeta - hc.gamma) + hc.gamma;
    const double soft = std::clamp(stretched, 1e-6, 1.0);
    z[h] = soft >= 0.5 ? 1.0 : 0.0;
    if (training && stretched > 1e-6 && stretched < 1.0) dz[h] = (hc.zeta - hc.gamma) * s * (1 - s) / hc.beta;
  }
  const Tensor out = detail::on_device_of(log_alpha.value(), log_alpha.shape(), z);
  if (!training) return Variable(out);  // evaluation: a constant
  return make_result(out, "hard_concrete_gate", {log_alpha}, [log_alpha, dz](const Tensor& dy) {
    std::vector<double> g = dy.to_vector();
    for (size_t h = 0; h < g.size(); ++h) g[h] *= dz[h];
    log_alpha.add_grad(detail::on_device_of(dy, dy.shape(), g));
  });
}

Variable l0_penalty(const Variable& log_alpha, HardConcrete hc) {
  const std::vector<double> p = open_probability(log_alpha.value(), hc);
  double total = 0;
  for (double v : p) total += v;
  const Tensor out = detail::on_device_of(log_alpha.value(), {1}, {total});
  return make_result(out, "l0_penalty", {log_alpha}, [log_alpha, p](const Tensor& dy) {
    const double g = dy.item();
    std::vector<double> d(p.size());
    for (size_t h = 0; h < p.size(); ++h) d[h] = (p[h] > 1e-6 && p[h] < 1 - 1e-6) ? g * p[h] * (1 - p[h]) : 0.0;
    log_alpha.add_grad(detail::on_device_of(log_alpha.value(), log_alpha.shape(), d));
  });
}

}  // namespace hc
