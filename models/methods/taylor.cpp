// `taylor`: the first-order Taylor estimate of the loss change when a head is
// removed (Michel, Levy and Neubig 2019, "Are Sixteen Heads Really Better
// than One?"). With z_h the head's output multiplier, removing the head
// changes the loss by about |dL/dz_h| at z = 1, so
//   I_h = mean over `batches` probe batches of |dL/dz_h|,
// normalised per layer by the layer's L2 norm of I, so that layers whose
// gradients are larger overall do not take every slot of a global budget.
#include <cmath>

#include "models/pruning_method.h"

namespace hc {

HeadScores taylor_scores(const ScoreInputs& in) {
  check(in.batches > 0, "taylor_scores: need at least one batch");
  const DType dt = in.model.pos.value().dtype();
  const Device dev = in.model.pos.value().device();
  HeadScores scores;
  for (const AllAttLayer& layer : in.model.layers()) scores.emplace_back(layer.shape().H, 0.0);
  for (int64_t b = 0; b < in.batches; ++b) {
    // z = 1 leaves the model unchanged; dL/dz_h = <dL/d head_h output, head_h output>.
    std::vector<Variable> gates;
    for (const AllAttLayer& layer : in.model.layers())
      gates.emplace_back(Tensor::full({layer.shape().H}, 1.0, dt, dev), true, "taylor.gate");
    in.probe_loss(gates).backward();
    for (size_t l = 0; l < gates.size(); ++l) {
      const std::vector<double> g = gates[l].grad().to_vector();
      for (size_t h = 0; h < g.size(); ++h) scores[l][h] += std::fabs(g[h]) / double(in.batches);
    }
  }
  for (std::vector<double>& s : scores) {
    double norm = 0;
    for (double v : s) norm += v * v;
    norm = std::sqrt(norm);
    if (norm > 0)
      for (double& v : s) v /= norm;
  }
  return scores;
}

}  // namespace hc
