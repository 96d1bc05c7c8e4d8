// A position in the counter-based random stream of a run: (seed, offset).
// Every dropout mask and gate-noise draw of a training step takes the next
// numbers, so the whole run is reproducible from (seed, offset), which the
// checkpoint saves, and the CPU and the GPU draw identical masks.
//
// Draws that are shared by the whole batch (gate noise, the position table,
// word dropout) use next(count). Draws over activations use per_stream():
// each batch stream gets its own counter range, indexed by the stream's
// global number (first_stream + b), so a data-parallel rank that holds
// streams 8..15 of the global batch draws the same masks for them as one
// process holding all 16 (app/data_parallel.h).
#pragma once

#include <cstdint>

#include "engine/backend.h"
#include "engine/rng.h"

namespace hc {

struct RngStream {
  uint64_t seed = 0;
  uint64_t offset = 0;       // in Philox blocks of 4 numbers
  int64_t first_stream = 0;  // global index of this process's first batch stream

  // The key for the next `count` numbers, and advance past them.
  RandomKey next(int64_t count) {
    const RandomKey key{seed, offset};
    offset += philox::blocks_for(static_cast<uint64_t>(count));
    return key;
  }
  // The key for a tensor cut as (slices, B streams, inner): `inner` numbers
  // per stream and slice, and advance past one stream's share (the ranges of
  // the streams lie side by side in the counter's stream word).
  RandomKey per_stream(int64_t streams, int64_t inner) {
    const RandomKey key{seed, offset, streams, inner, first_stream};
    offset += philox::blocks_for(static_cast<uint64_t>(inner));
    return key;
  }
};

}  // namespace hc
