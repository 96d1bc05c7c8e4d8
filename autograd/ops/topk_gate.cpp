// Straight-through top-K gates: the `topk` pruning method (a differentiable
// exact-K subset, as in Differentiable Subset Pruning, Li et al. 2021, in its
// straight-through form).
//
// Over all heads of all layers at once, the K largest logits s give z = 1 and
// the rest z = 0; ties go to the earlier layer and head. The forward pass uses
// the hard mask, so the model always runs with exactly K heads; the backward
// pass uses the derivative of the surrogate sigmoid(s),
//   d z_h / d s_h := sigmoid(s_h) (1 - sigmoid(s_h)),
// so a closed head, whose output is zeroed but whose dL/dz is still defined
// (the loss's sensitivity to switching it back on), keeps learning whether
// it should open. Computed on the host: there are a few dozen heads.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/ops/common.h"

namespace hc {

std::vector<Variable> topk_gates(const std::vector<Variable>& logits, int64_t K) {
  std::vector<double> all;
  for (const Variable& s : logits) {
    check(s.value().dim() == 1, "topk_gates: each layer's logits must be (H), got " + shape_str(s.shape()));
    for (double v : s.value().to_vector()) all.push_back(v);
  }
  check(K >= 0 && K <= static_cast<int64_t>(all.size()),
        "topk_gates: K = " + std::to_string(K) + " of " + std::to_string(all.size()) + " heads");
  std::vector<size_t> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return all[a] > all[b]; });
  std::vector<double> z(all.size(), 0.0);
  for (int64_t r = 0; r < K; ++r) z[order[r]] = 1.0;

  std::vector<Variable> gates;
  size_t at = 0;
  for (const Variable& s : logits) {
    const int64_t H = s.numel();
    std::vector<double> zl(z.begin() + at, z.begin() + at + H), slope(H);
    for (int64_t h = 0; h < H; ++h) {
      const double sig = 1.0 / (1.0 + std::exp(-all[at + h]));
      slope[h] = sig * (1.0 - sig);
    }
    at += H;
    gates.push_back(make_result(detail::on_device_of(s.value(), s.shape(), zl), "topk_gate", {s},
                                [s, slope](const Tensor& dy) {
                                  std::vector<double> g = dy.to_vector();
                                  for (size_t h = 0; h < g.size(); ++h) g[h] *= slope[h];
                                  s.add_grad(detail::on_device_of(dy, dy.shape(), g));
                                }));
  }
  return gates;
}

}  // namespace hc
