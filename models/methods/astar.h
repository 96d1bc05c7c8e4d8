// The search of `astar` (models/methods/astar.cpp) on any set loss, and the
// exhaustive search it is tested against.
#pragma once

#include <cstdint>
#include <vector>

#include "models/methods/head_sets.h"

namespace hc {

struct HeadSearch {
  std::vector<bool> open;   // the K heads chosen
  double loss = 0;          // their loss
  int64_t expanded = 0;     // sets whose children were scored
  int64_t sets_scored = 0;  // distinct sets whose loss was computed
  bool finished = false;    // a K-head set came first in the queue before the cap
  int64_t violations = 0;   // marginal costs seen to fall from a set to its child (see astar.cpp)
};

// A* from all N heads open down to K, at most `max_nodes` expansions.
HeadSearch astar_search(int64_t N, int64_t K, const SetLoss& loss, int64_t max_nodes);
// Every K-head set (ties to the first visited: heads 0..K-1 open, then down in lexicographic order).
HeadSearch exhaustive_search(int64_t N, int64_t K, const SetLoss& loss);

}  // namespace hc
