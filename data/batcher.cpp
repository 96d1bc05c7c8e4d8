#include "data/batcher.h"

#include <stdexcept>
#include <string>

#include "engine/rng.h"

namespace hc {

Batcher::Batcher(std::vector<int64_t> tokens, int64_t B, int64_t T, bool roll, uint64_t seed)
    : tokens_(std::move(tokens)), B_(B), T_(T), roll_(roll), seed_(seed) {
  check(B > 0 && T > 0, "batcher: batch and segment length must be positive");
  len_ = static_cast<int64_t>(tokens_.size()) / B;
  steps_ = len_ > 0 ? (len_ - 1) / T : 0;
  check(steps_ > 0, "batcher: " + std::to_string(tokens_.size()) + " tokens are fewer than one batch needs (" +
                        std::to_string(B) + " streams x (" + std::to_string(T) + " + 1) = " +
                        std::to_string(B * (T + 1)) + ")");
}

int64_t Batcher::offset_of(int64_t epoch, int64_t stream) const {
  if (!roll_) return 0;
  // One 32-bit draw per (epoch, stream): counter = epoch, lane = stream.
  const uint32_t r = philox::bits(seed_, static_cast<uint64_t>(epoch) << 20, static_cast<uint64_t>(stream));
  return static_cast<int64_t>(r % static_cast<uint32_t>(len_));
}

Batcher::Batch Batcher::next() {
  Batch b{Tensor::empty({B_, T_}, DType::I64), Tensor::empty({B_, T_}, DType::I64)};
  int64_t* x = b.inputs.data<int64_t>();
  int64_t* y = b.targets.data<int64_t>();
  for (int64_t s = 0; s < B_; ++s) {
    const int64_t* stream = tokens_.data() + s * len_;
    const int64_t shift = offset_of(pos_.epoch, s);
    for (int64_t t = 0; t < T_; ++t) {
      const int64_t i = pos_.step * T_ + t;
      x[s * T_ + t] = stream[(i + shift) % len_];
      y[s * T_ + t] = stream[(i + 1 + shift) % len_];
    }
  }
  if (++pos_.step == steps_) pos_ = {pos_.epoch + 1, 0};
  return b;
}

void Batcher::seek(BatchPosition pos) {
  check(pos.epoch >= 0 && pos.step >= 0 && pos.step < steps_,
        "batcher: position (epoch " + std::to_string(pos.epoch) + ", step " + std::to_string(pos.step) +
            ") is outside this data (" + std::to_string(steps_) + " steps per epoch)");
  pos_ = pos;
}

}  // namespace hc
