// Which heads a pruned model keeps, and numbers per head.
//
//   HeadMask    keep[l][h]: head h of layer l stays. The one type for "a set
//               of heads", whatever chose it (gate logits, scores, a budget).
//   HeadScores  values[l][h]: a number per head (an importance score, a gate
//               logit, P(open)); higher = more worth keeping.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hc {

using HeadScores = std::vector<std::vector<double>>;

struct HeadMask {
  std::vector<std::vector<bool>> keep;

  int64_t count() const;                   // heads kept, over all layers
  std::vector<int64_t> per_layer() const;  // heads kept in each layer
  // "1101,0011": one digit per head, layers separated by commas.
  std::string describe() const;
};

// The K best heads over all layers at once (ties go to the earlier layer,
// then the earlier head). Throws unless 0 <= K <= the number of heads.
HeadMask top_heads(const HeadScores& scores, int64_t K);

}  // namespace hc
