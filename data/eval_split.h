// How a split is scored: every token but the first is predicted exactly once.
//
// The n tokens of a split give P = n-1 predictions (input token i, target
// token i+1). They are cut into B contiguous streams: stream b makes the
// predictions [b*P/B, (b+1)*P/B) (integer division, so the streams differ in
// length by at most one). The streams are read side by side in steps of T
// tokens, with each stream's memory carried from one step to the next as in
// training. At the last step a stream may have fewer than T predictions
// left, and the streams' remainders may differ by one: that step runs one
// batch per remainder length, each over its own streams.
//
// Training reads its split with the Batcher instead (equal streams, the
// remainder dropped, segments always T long): it needs full batches, and it
// loops over epochs, so no token is lost for good.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace hc {

class EvalSplit {
 public:
  // Throws std::invalid_argument if the split has fewer than 2 tokens. B is
  // lowered to P when the split has fewer predictions than streams.
  EvalSplit(std::vector<int64_t> tokens, int64_t B, int64_t T);

  // Streams of one step that have the same number of predictions left.
  struct Group {
    std::vector<int64_t> streams;  // indices into the B streams, ascending
    Tensor inputs;                 // (streams, t) I64
    Tensor targets;                // (streams, t) I64
  };
  // The segments of step k (0 <= k < steps()): one group of all B streams
  // of T tokens, except at the last step, where the groups are ordered from
  // the longest remainder down and streams with nothing left are absent.
  std::vector<Group> step(int64_t k) const;

  int64_t streams() const { return B_; }
  int64_t steps() const { return steps_; }
  int64_t predictions() const { return static_cast<int64_t>(tokens_.size()) - 1; }
  // Predictions of steps [0, k): what scoring the first k steps covers.
  int64_t predictions_before(int64_t k) const;

 private:
  int64_t begin(int64_t stream) const;  // first prediction of a stream
  std::vector<int64_t> tokens_;
  int64_t B_, T_, steps_;
};

}  // namespace hc
