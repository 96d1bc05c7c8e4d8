#include "models/time_budget.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "autograd/ops.h"

namespace hc {

namespace {

std::string ms(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g ms", seconds * 1e3);
  return text;
}

// The least predicted time of a model with exactly one head (seconds).
double cheapest_one_head(const CostModel& cost, const std::vector<int64_t>& heads) {
  double best = std::numeric_limits<double>::infinity();
  for (size_t l = 0; l < heads.size(); ++l) {
    if (heads[l] == 0) continue;
    std::vector<int64_t> one(heads.size(), 0);
    one[l] = 1;
    best = std::min(best, cost.predict(one));
  }
  return best;
}

}  // namespace

double time_budget_seconds(const PruneConfig& p, const CostModel& cost, const std::vector<int64_t>& heads) {
  const double emptied = cost.predict(std::vector<int64_t>(heads.size(), 0)), dense = cost.predict(heads);
  const double budget = p.target_ms > 0 ? p.target_ms * 1e-3 : dense / p.target_speedup;
  const std::string what = p.target_ms > 0 ? "target_ms " + ms(budget)
                                           : "target_speedup " + std::to_string(p.target_speedup) + " (" + ms(budget) + ")";
  const std::string times = "the cost model (" + p.target_mode + ") predicts " + ms(emptied) +
                            " for the emptied model (no head) and " + ms(dense) + " for the dense one";
  check(dense > emptied, "config: " + what + ": " + times + ", so removing heads saves no time");
  check(budget >= emptied && budget <= dense, "config: " + what + " is outside what pruning can reach: " + times);
  const double one = cheapest_one_head(cost, heads);
  check(budget >= one, "config: " + what + " is below the cheapest model with one head, " + ms(one) + "; " + times);
  return budget;
}

Variable expected_time(const std::vector<Variable>& gate_logits, const CostModel& cost) {
  check(gate_logits.size() == cost.per_head.size(), "expected_time: " + std::to_string(gate_logits.size()) +
                                                        " layers of gates for a cost model of " +
                                                        std::to_string(cost.per_head.size()));
  check(!gate_logits.empty(), "expected_time: no gates");
  const Tensor& like = gate_logits[0].value();
  Variable t(Tensor::full({1}, cost.fixed, like.dtype(), like.device()));
  for (size_t l = 0; l < gate_logits.size(); ++l) {
    std::vector<double> g;  // the layer's time with k = 0..H_l heads open
    for (int64_t k = 0; k <= gate_logits[l].numel(); ++k) g.push_back(cost.layer_seconds(int64_t(l), k));
    t = add(t, expected_layer_cost(gate_logits[l], g));
  }
  return t;
}

namespace {

// One head looked at by the greedy readout.
struct Candidate {
  size_t layer, head;
  double value;  // >= 0
};

// True if a is to be taken before b, given the heads kept so far per layer:
// free heads (marginal time <= 0) first, then value per second, then value;
// ties keep the earlier layer and head (candidates are in that order).
bool before(const Candidate& a, const Candidate& b, const CostModel& cost, const std::vector<int64_t>& kept) {
  auto marginal = [&](const Candidate& c) {
    const int64_t l = int64_t(c.layer), k = kept[c.layer];
    return cost.layer_seconds(l, k + 1) - cost.layer_seconds(l, k);
  };
  const double ma = marginal(a), mb = marginal(b);
  if ((ma <= 0) != (mb <= 0)) return ma <= 0;
  if (ma <= 0 || a.value / ma == b.value / mb) return a.value > b.value;
  return a.value / ma > b.value / mb;
}

}  // namespace

HeadMask heads_within_time(const HeadScores& scores, const CostModel& cost, double budget_s) {
  check(scores.size() == cost.per_head.size(), "heads_within_time: scores of " + std::to_string(scores.size()) +
                                                   " layers for a cost model of " + std::to_string(cost.per_head.size()));
  double lowest = 0;
  for (const std::vector<double>& layer : scores)
    for (double s : layer) lowest = std::min(lowest, s);
  std::vector<Candidate> left;
  HeadMask mask;
  for (size_t l = 0; l < scores.size(); ++l) {
    mask.keep.emplace_back(scores[l].size(), false);
    for (size_t h = 0; h < scores[l].size(); ++h) left.push_back({l, h, scores[l][h] - lowest});
  }
  std::vector<int64_t> kept(scores.size(), 0);
  while (!left.empty()) {
    const auto next = std::min_element(left.begin(), left.end(), [&](const Candidate& a, const Candidate& b) {
      return before(a, b, cost, kept);
    });
    const Candidate c = *next;
    left.erase(next);
    ++kept[c.layer];
    if (cost.predict(kept) <= budget_s) mask.keep[c.layer][c.head] = true;
    else --kept[c.layer];
  }
  check(mask.count() > 0, "time budget " + ms(budget_s) + ": not one head fits (the emptied model takes " +
                              ms(cost.predict(std::vector<int64_t>(kept.size(), 0))) + ")");
  return mask;
}

double largest_time_within(const CostModel& cost, const std::vector<int64_t>& heads, double budget_s) {
  constexpr double grid = 1e-6;  // seconds
  const double room = budget_s - cost.fixed;
  check(room >= 0, "largest_time_within: the budget " + ms(budget_s) + " is below the fixed cost " + ms(cost.fixed));
  const double inf = std::numeric_limits<double>::infinity();
  // low[i]: the least time of the layers so far, over their shapes whose time lies in [i, i + 1) us.
  std::vector<double> low(size_t(std::floor(room / grid)) + 1, inf);
  low[0] = 0;
  for (size_t l = 0; l < heads.size(); ++l) {
    std::vector<double> next(low.size(), inf);
    for (size_t i = 0; i < low.size(); ++i) {
      if (low[i] == inf) continue;
      for (int64_t k = 0; k <= heads[l]; ++k) {
        const double t = low[i] + cost.layer_seconds(int64_t(l), k);
        if (t < 0 || t > room) continue;
        const size_t j = std::min(size_t(t / grid), low.size() - 1);
        next[j] = std::min(next[j], t);
      }
    }
    low.swap(next);
  }
  size_t best = low.size() - 1;
  while (low[best] == inf) --best;  // low[0] is finite: the emptied model fits
  return cost.fixed + low[best];
}

}  // namespace hc
