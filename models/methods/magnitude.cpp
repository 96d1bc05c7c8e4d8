// `magnitude`: the L2 norm of everything a head owns (its rows of q/k/v/r,
// its u/v biases, its persistent vectors, its columns of the output
// projection). The simplest criterion, from magnitude pruning of weights
// (Han et al. 2015) applied to whole heads.
#include <cmath>

#include "models/pruning_method.h"

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

HeadScores magnitude_scores(const ScoreInputs& in) {
  HeadScores scores;
  for (const AllAttLayer& layer : in.model.layers()) {
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

}  // namespace hc
