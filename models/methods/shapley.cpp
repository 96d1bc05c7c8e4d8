// `shapley`: Shapley head values (Held and Yang, "Shapley Head Pruning:
// Identifying and Removing Interference in Multilingual Transformers", EACL
// 2023, arXiv 2210.05709).
//
// The paper: a head's Shapley value is its average marginal contribution to
// the model's performance over every order in which the heads can be
// added; since there are N! orders, it samples orders (truncated Monte
// Carlo: once the partial model is as good as the full one, the rest of the
// order contributes nothing and is not evaluated) and prunes the heads of
// lowest (negative) value, without retraining.
//
// Here the performance is minus the loss on the first importance_batches
// probe batches of the training split, the same batches for every set
// (ScoreInputs::fixed_loss), so that sets differ only in their heads; a
// closed head's output is zeroed, with output scaling as the run has it
// (what the pruned model computes). Orders are sampled up to
// shapley_permutations, truncation at shapley_truncation nats of the
// full model's loss; the budget's K heads of largest value stay, over all
// layers, and the run fine-tunes them like every scored method. Each value
// is printed with its standard error, and choose.json keeps them. What
// differs from the paper: it prunes to the budget (the bake-off's rule)
// rather than every head of negative value, scores on training batches (the
// validation split is what the bake-off ranks methods by), and caches each
// set's loss, so orders that share a prefix pay for it once.
#include "models/methods/shapley.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "models/gates.h"

namespace hc {

namespace {

// Each set's loss once.
class CachedLoss {
 public:
  explicit CachedLoss(const SetLoss& loss) : loss_(loss) {}
  double operator()(const std::vector<bool>& open) {
    auto it = cache_.find(open);
    if (it == cache_.end()) it = cache_.emplace(open, loss_(open)).first;
    return it->second;
  }
  int64_t size() const { return static_cast<int64_t>(cache_.size()); }

 private:
  const SetLoss& loss_;
  std::map<std::vector<bool>, double> cache_;
};

// A uniform order of 0..N-1 (Fisher-Yates on Philox words; the modulo bias
// is below 2^-16 for N < 2^16).
std::vector<int64_t> permutation(int64_t N, uint64_t seed, uint64_t& counter) {
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = N - 1; i > 0; --i) {
    const uint64_t j = philox::bits(seed, 0, counter++) % static_cast<uint64_t>(i + 1);
    std::swap(order[i], order[j]);
  }
  return order;
}

class Shapley final : public PruningMethod {
 public:
  explicit Shapley(const PruneSetup& s) : s_(s) {}

  void choose(AllAttLM& model, const ScoreInputs& probe) override {
    values_ = sampled_shapley(s_.heads, fixed_set_loss(probe, s_.config.output_scaling, "shapley"),
                              s_.config.shapley_permutations, s_.config.shapley_truncation, s_.seed);
    std::fprintf(stderr,
                 "shapley: %lld orders, %lld head sets scored, %lld marginals truncated; value (nats of loss the head "
                 "removes) +- standard error:\n%s",
                 static_cast<long long>(values_.permutations), static_cast<long long>(values_.sets_scored),
                 static_cast<long long>(values_.truncated), per_layer_text(model, values_.value, values_.std_error).c_str());
    HeadScores scores;
    size_t at = 0;
    for (const AllAttLayer& layer : model.layers()) {
      scores.emplace_back(values_.value.begin() + at, values_.value.begin() + at + layer.shape().H);
      at += layer.shape().H;
    }
    set_gate_logits(model, keep_within_budget(scores, s_), 20.0);
  }
  void choose_report(nlohmann::json& out) const override {
    out["shapley_value"] = values_.value;
    out["shapley_std_error"] = values_.std_error;
    out["permutations"] = values_.permutations;
    out["sets_scored"] = values_.sets_scored;
    out["truncated"] = values_.truncated;
  }

 protected:
  std::vector<Variable> draw_gates(const AllAttLM& model, int64_t, RngStream& rng) override {
    return layer_gates(model, rng, /*training=*/true, s_.config.output_scaling);
  }

 private:
  PruneSetup s_;
  ShapleyValues values_;
};

}  // namespace

ShapleyValues exact_shapley(int64_t N, const SetLoss& loss) {
  check(N >= 1 && N <= 20, "exact_shapley: 1 to 20 heads, got " + std::to_string(N));
  // weight[s] = s! (N-s-1)! / N!, the share of orders in which h joins a set of size s.
  std::vector<double> weight(N);
  for (int64_t s = 0; s < N; ++s) weight[s] = std::exp(std::lgamma(s + 1.0) + std::lgamma(double(N - s)) - std::lgamma(N + 1.0));
  std::vector<double> set_loss(size_t{1} << N);
  for (size_t bits = 0; bits < set_loss.size(); ++bits) {
    std::vector<bool> open(N);
    for (int64_t h = 0; h < N; ++h) open[h] = (bits >> h) & 1;
    set_loss[bits] = loss(open);
  }
  ShapleyValues out{std::vector<double>(N, 0.0), std::vector<double>(N, 0.0), 0, static_cast<int64_t>(set_loss.size()), 0};
  out.permutations = static_cast<int64_t>(std::llround(std::tgamma(N + 1.0)));
  for (size_t bits = 0; bits < set_loss.size(); ++bits)
    for (int64_t h = 0; h < N; ++h)
      if (!((bits >> h) & 1))
        out.value[h] += weight[__builtin_popcountll(bits)] * (set_loss[bits] - set_loss[bits | (size_t{1} << h)]);
  return out;
}

ShapleyValues sampled_shapley(int64_t N, const SetLoss& loss, int64_t permutations, double truncation, uint64_t seed) {
  check(N >= 1 && permutations >= 2 && truncation >= 0,
        "sampled_shapley: need a head, at least 2 permutations and truncation >= 0");
  CachedLoss cached(loss);
  const double full = cached(std::vector<bool>(N, true));
  ShapleyValues out{std::vector<double>(N, 0.0), std::vector<double>(N, 0.0), permutations, 0, 0};
  std::vector<double> sum_sq(N, 0.0);
  uint64_t counter = 0;
  for (int64_t p = 0; p < permutations; ++p) {
    std::vector<bool> open(N, false);
    double before = cached(open);
    for (int64_t h : permutation(N, seed, counter)) {
      double marginal = 0;
      if (std::fabs(before - full) < truncation) {
        ++out.truncated;
      } else {
        open[h] = true;
        const double after = cached(open);
        marginal = before - after;
        before = after;
      }
      out.value[h] += marginal;
      sum_sq[h] += marginal * marginal;
    }
  }
  const double P = double(permutations);
  for (int64_t h = 0; h < N; ++h) {
    const double mean = out.value[h] / P;
    const double variance = std::max(0.0, (sum_sq[h] - P * mean * mean) / (P - 1));
    out.value[h] = mean;
    out.std_error[h] = std::sqrt(variance / P);
  }
  out.sets_scored = cached.size();
  return out;
}

std::unique_ptr<PruningMethod> make_shapley(const PruneSetup& s) { return std::make_unique<Shapley>(s); }

}  // namespace hc
