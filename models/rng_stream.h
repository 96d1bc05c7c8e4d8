// A position in the counter-based random stream of a run: (seed, offset).
// Every dropout mask and gate-noise draw of a training step takes the next
// `numel` numbers, so the whole run is reproducible from (seed, offset), which
// the checkpoint saves, and the CPU and the GPU draw identical masks.
#pragma once

#include <cstdint>

#include "engine/backend.h"
#include "engine/rng.h"

namespace hc {

struct RngStream {
  uint64_t seed = 0;
  uint64_t offset = 0;  // in Philox blocks of 4 numbers

  // The key for the next `count` numbers, and advance past them.
  RandomKey next(int64_t count) {
    const RandomKey key{seed, offset};
    offset += philox::blocks_for(static_cast<uint64_t>(count));
    return key;
  }
};

}  // namespace hc
