#include "models/head_importance.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace hc {

namespace {
// Sum of squares of head h's block when `v` holds H contiguous blocks.
double block_sum_squares(const Variable& v, int64_t H, int64_t h) {
  const std::vector<double> x = v.value().to_vector();
  const size_t per = x.size() / static_cast<size_t>(H);
  double s = 0;
  for (size_t i = per * static_cast<size_t>(h); i < per * static_cast<size_t>(h + 1); ++i) s += x[i] * x[i];
  return s;
}
}  // namespace

HeadScores magnitude_scores(const AllAttLM& model) {
  HeadScores scores;
  for (const AllAttLayer& layer : model.layers()) {
    const int64_t H = layer.shape().H, D = layer.shape().D, C = layer.shape().C;
    std::vector<double> s(H, 0.0);
    if (H > 0) {
      const std::vector<double> out = layer.out_w.value().to_vector();  // (C, H*D): head h in columns h*D..
      for (int64_t h = 0; h < H; ++h) {
        for (const Variable* v : {&layer.q_w, &layer.k_w, &layer.v_w, &layer.r_w, &layer.u_bias, &layer.v_bias})
          s[h] += block_sum_squares(*v, H, h);
        if (layer.shape().N > 0) s[h] += block_sum_squares(layer.persist_k, H, h) + block_sum_squares(layer.persist_v, H, h);
        for (int64_t r = 0; r < C; ++r)
          for (int64_t d = 0; d < D; ++d) s[h] += out[r * H * D + h * D + d] * out[r * H * D + h * D + d];
        s[h] = std::sqrt(s[h]);
      }
    }
    scores.push_back(s);
  }
  return scores;
}

HeadScores random_scores(const AllAttLM& model, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  HeadScores scores;
  for (const AllAttLayer& layer : model.layers()) {
    std::vector<double> s(layer.shape().H);
    for (double& v : s) v = uniform(gen);
    scores.push_back(s);
  }
  return scores;
}

HeadScores taylor_scores(const AllAttLM& model, const std::function<Variable(const std::vector<Variable>&)>& loss_of,
                         int64_t batches) {
  check(batches > 0, "taylor_scores: need at least one batch");
  const DType dt = model.pos.value().dtype();
  const Device dev = model.pos.value().device();
  HeadScores scores;
  for (const AllAttLayer& layer : model.layers()) scores.emplace_back(layer.shape().H, 0.0);
  for (int64_t b = 0; b < batches; ++b) {
    // z = 1 leaves the model unchanged; dL/dz_h = <dL/d head_h output, head_h output>.
    std::vector<Variable> gates;
    for (const AllAttLayer& layer : model.layers())
      gates.emplace_back(Tensor::full({layer.shape().H}, 1.0, dt, dev), true, "taylor.gate");
    loss_of(gates).backward();
    for (size_t l = 0; l < gates.size(); ++l) {
      const std::vector<double> g = gates[l].grad().to_vector();
      for (size_t h = 0; h < g.size(); ++h) scores[l][h] += std::fabs(g[h]) / double(batches);
    }
  }
  // Per-layer normalisation (Michel et al.): layers whose gradients are
  // larger overall do not take every slot of a global budget.
  for (std::vector<double>& s : scores) {
    double norm = 0;
    for (double v : s) norm += v * v;
    norm = std::sqrt(norm);
    if (norm > 0)
      for (double& v : s) v /= norm;
  }
  return scores;
}

std::vector<std::vector<bool>> top_heads(const HeadScores& scores, int64_t K) {
  std::vector<std::pair<size_t, size_t>> heads;  // (layer, head) in order
  std::vector<double> value;
  for (size_t l = 0; l < scores.size(); ++l)
    for (size_t h = 0; h < scores[l].size(); ++h) {
      heads.push_back({l, h});
      value.push_back(scores[l][h]);
    }
  check(K >= 0 && K <= static_cast<int64_t>(heads.size()),
        "top_heads: K = " + std::to_string(K) + " of " + std::to_string(heads.size()) + " heads");
  std::vector<size_t> order(heads.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return value[a] > value[b]; });
  std::vector<std::vector<bool>> keep;
  for (const auto& s : scores) keep.emplace_back(s.size(), false);
  for (int64_t r = 0; r < K; ++r) keep[heads[order[r]].first][heads[order[r]].second] = true;
  return keep;
}

}  // namespace hc
