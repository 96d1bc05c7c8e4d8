// The Transformer-XL streaming batcher.
//
// The token stream of a split is cut into B equal contiguous streams (the
// remainder dropped); step s of an epoch yields, for every stream b, the T
// tokens at positions [sT, sT+T) as inputs and the T tokens one further on
// as targets. Consecutive steps continue each stream exactly where the last
// one stopped, which is what lets the model carry memory across segments.
// An epoch ends when a stream has fewer than T+1 tokens left.
//
// Optional shuffling, as in the seed paper's code: at every epoch each
// stream is rotated cyclically by an offset drawn from Philox(seed, epoch),
// so epochs differ but the order is reproducible. The position (epoch,
// step) is all a checkpoint needs to resume the exact same sequence.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace hc {

struct BatchPosition {
  int64_t epoch = 0;
  int64_t step = 0;  // within the epoch
};

class Batcher {
 public:
  // Throws std::invalid_argument if the tokens do not fill one batch.
  Batcher(std::vector<int64_t> tokens, int64_t B, int64_t T, bool roll = false, uint64_t seed = 0);

  struct Batch {
    Tensor inputs;   // (B, T) I64
    Tensor targets;  // (B, T) I64
  };
  Batch next();  // the batch at position(), then advance (wrapping into the next epoch)

  int64_t steps_per_epoch() const { return steps_; }
  BatchPosition position() const { return pos_; }
  void seek(BatchPosition pos);

 private:
  int64_t offset_of(int64_t epoch, int64_t stream) const;  // rotation of a stream
  std::vector<int64_t> tokens_;
  int64_t B_, T_, len_, steps_;
  bool roll_;
  uint64_t seed_;
  BatchPosition pos_;
};

}  // namespace hc
