#include "data/eval_split.h"

#include <algorithm>
#include <map>
#include <string>

namespace hc {

EvalSplit::EvalSplit(std::vector<int64_t> tokens, int64_t B, int64_t T) : tokens_(std::move(tokens)), T_(T) {
  check(B > 0 && T > 0, "evaluation: batch and segment length must be positive");
  check(tokens_.size() >= 2, "evaluation: the split has " + std::to_string(tokens_.size()) +
                                 " tokens; scoring needs at least 2 (one prediction)");
  B_ = std::min(B, predictions());
  // The longest stream has ceil(P / B) predictions; it sets the step count.
  const int64_t longest = (predictions() + B_ - 1) / B_;
  steps_ = (longest + T_ - 1) / T_;
}

int64_t EvalSplit::begin(int64_t stream) const { return stream * predictions() / B_; }

int64_t EvalSplit::predictions_before(int64_t k) const {
  int64_t n = 0;
  for (int64_t b = 0; b < B_; ++b) n += std::min(begin(b + 1) - begin(b), k * T_);
  return n;
}

std::vector<EvalSplit::Group> EvalSplit::step(int64_t k) const {
  check(k >= 0 && k < steps_, "evaluation: step " + std::to_string(k) + " of " + std::to_string(steps_));
  // Streams by the number of predictions this step gives them (at most T).
  std::map<int64_t, std::vector<int64_t>, std::greater<>> by_length;
  for (int64_t b = 0; b < B_; ++b) {
    const int64_t left = begin(b + 1) - begin(b) - k * T_;
    if (left > 0) by_length[std::min(left, T_)].push_back(b);
  }
  std::vector<Group> groups;
  for (const auto& [t, streams] : by_length) {
    const int64_t n = static_cast<int64_t>(streams.size());
    Group g{streams, Tensor::empty({n, t}, DType::I64), Tensor::empty({n, t}, DType::I64)};
    int64_t* x = g.inputs.data<int64_t>();
    int64_t* y = g.targets.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t first = begin(streams[static_cast<size_t>(i)]) + k * T_;  // prediction index = input position
      for (int64_t j = 0; j < t; ++j) {
        x[i * t + j] = tokens_[static_cast<size_t>(first + j)];
        y[i * t + j] = tokens_[static_cast<size_t>(first + j + 1)];
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

}  // namespace hc
