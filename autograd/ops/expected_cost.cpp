// expected_layer_cost: what a layer's heads are expected to cost when each
// head h is open with its own probability p_h (the hard-concrete gate's
// P(z_h != 0), as in l0_penalty) independently of the others, and a layer
// of k open heads costs g(k):
//
//   E = sum_{k=0..H} P(k open) g(k)
//
// P(k open) is the Poisson-binomial distribution of the open count, built
// head by head (each head shifts the distribution by one with probability
// p_h). With g(k) = k this is l0_penalty's expected open count; with a
// cost model's g(k) = layer_seconds(l, k) it is the layer's expected time,
// which a time budget penalises (models/cost_model.h).
//
// Backward: opening head j moves probability from "k open without j" to
// "k + 1 open", so dE/dp_j = sum_k P_{-j}(k) (g(k+1) - g(k)) with P_{-j}
// the distribution of the other heads' count; dp_j/dlog_alpha_j =
// p_j (1 - p_j), the logistic's slope, as in l0_penalty.
#include "autograd/ops/common.h"

namespace hc {

namespace {

// The open-count distribution of heads `p`, skipping head `skip` (-1: none): (H+1).
std::vector<double> open_count_distribution(const std::vector<double>& p, int64_t skip) {
  std::vector<double> dist(p.size() + 1, 0.0);
  dist[0] = 1;
  int64_t seen = 0;
  for (size_t h = 0; h < p.size(); ++h) {
    if (int64_t(h) == skip) continue;
    ++seen;
    for (int64_t k = seen; k >= 1; --k) dist[size_t(k)] = dist[size_t(k)] * (1 - p[h]) + dist[size_t(k - 1)] * p[h];
    dist[0] *= 1 - p[h];
  }
  return dist;
}

}  // namespace

// log_alpha (H), g (H+1 numbers) -> (1).
Variable expected_layer_cost(const Variable& log_alpha, const std::vector<double>& g, HardConcrete hc) {
  const std::vector<double> p = open_probability(log_alpha.value(), hc);
  check(g.size() == p.size() + 1, "expected_layer_cost: " + std::to_string(g.size()) + " costs for " +
                                      std::to_string(p.size()) + " heads (need one per open count, 0.." +
                                      std::to_string(p.size()) + ")");
  const std::vector<double> dist = open_count_distribution(p, -1);
  double total = 0;
  for (size_t k = 0; k < dist.size(); ++k) total += dist[k] * g[k];
  const Tensor out = detail::on_device_of(log_alpha.value(), {1}, {total});
  return make_result(out, "expected_layer_cost", {log_alpha}, [log_alpha, p, g](const Tensor& dy) {
    const double up = dy.item();
    std::vector<double> d(p.size(), 0.0);
    for (size_t j = 0; j < p.size(); ++j) {
      if (!(p[j] > 1e-6 && p[j] < 1 - 1e-6)) continue;  // saturated: no slope, as l0_penalty
      const std::vector<double> others = open_count_distribution(p, int64_t(j));
      double dE_dp = 0;
      for (size_t k = 0; k + 1 < g.size(); ++k) dE_dp += others[k] * (g[k + 1] - g[k]);
      d[j] = up * dE_dp * p[j] * (1 - p[j]);
    }
    log_alpha.add_grad(detail::on_device_of(log_alpha.value(), log_alpha.shape(), d));
  });
}

}  // namespace hc
