#include "models/head_mask.h"

#include <algorithm>
#include <numeric>

#include "engine/tensor.h"

namespace hc {

int64_t HeadMask::count() const {
  int64_t n = 0;
  for (const std::vector<bool>& layer : keep) n += std::count(layer.begin(), layer.end(), true);
  return n;
}

std::vector<int64_t> HeadMask::per_layer() const {
  std::vector<int64_t> counts;
  for (const std::vector<bool>& layer : keep) counts.push_back(std::count(layer.begin(), layer.end(), true));
  return counts;
}

std::string HeadMask::describe() const {
  std::string text;
  for (size_t l = 0; l < keep.size(); ++l) {
    if (l) text += ',';
    for (bool k : keep[l]) text += k ? '1' : '0';
  }
  return text;
}

HeadMask top_heads(const HeadScores& scores, int64_t K) {
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
  HeadMask mask;
  for (const auto& s : scores) mask.keep.emplace_back(s.size(), false);
  for (int64_t r = 0; r < K; ++r) mask.keep[heads[order[r]].first][heads[order[r]].second] = true;
  return mask;
}

}  // namespace hc
