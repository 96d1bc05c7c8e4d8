// `random`: a seeded random choice, the sanity baseline every criterion must beat.
#include <random>

#include "models/pruning_method.h"

namespace hc {

HeadScores random_scores(const ScoreInputs& in) {
  std::mt19937_64 gen(in.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  HeadScores scores;
  for (const AllAttLayer& layer : in.model.layers()) {
    std::vector<double> s(layer.shape().H);
    for (double& v : s) v = uniform(gen);
    scores.push_back(s);
  }
  return scores;
}

}  // namespace hc
