// Philox4x32-10: a counter-based random number generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// Instead of a state that advances, a pure function maps (key, counter) to
// four 32-bit numbers. Element e of a random tensor uses counter e / 4 and
// lane e % 4, so any thread on any device computes any element on its own,
// and the CPU and the GPU produce bit-identical dropout masks and gate noise.
// Reproducing a run needs only (seed, offset): no generator state to save.
//
// The counter has four 32-bit words: the first two hold the block number,
// the third a batch stream and the fourth a slice index. A tensor whose
// rows belong to batch streams draws each stream's numbers from its own
// counter range (seed, offset, stream), so a data-parallel rank holding
// streams 4..7 draws exactly the numbers that one process holding all
// streams draws for them (backend.h's RandomKey says how a tensor is cut).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define HC_HOST_DEVICE __host__ __device__
#else
#define HC_HOST_DEVICE
#endif

namespace hc::philox {

struct Block {
  uint32_t v[4];
};

// The multipliers and the key increments (golden ratio, sqrt(3)-1) of the paper.
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kBump0 = 0x9E3779B9u, kBump1 = 0xBB67AE85u;

HC_HOST_DEVICE inline Block philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                          uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kBump0;
      k1 += kBump1;
    }
    // Each round: two 32x32->64 multiplies, the high halves mixed with the
    // other counter words and the key (a Feistel-like permutation).
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return Block{{c0, c1, c2, c3}};
}

// The 32-bit word for element `index` of the stream (seed, offset), in the
// counter range of batch stream `stream` and slice `slice` (0, 0 for a
// tensor that is not cut by stream).
HC_HOST_DEVICE inline uint32_t bits(uint64_t seed, uint64_t offset, uint64_t index, uint32_t stream = 0,
                                    uint32_t slice = 0) {
  const uint64_t block = offset + index / 4;
  const Block b = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                stream, slice, static_cast<uint32_t>(seed),
                                static_cast<uint32_t>(seed >> 32));
  // A select, not b.v[index % 4]: a GPU keeps an array indexed at run time
  // in memory rather than in registers.
  const uint32_t lane = static_cast<uint32_t>(index % 4);
  return lane == 0 ? b.v[0] : lane == 1 ? b.v[1] : lane == 2 ? b.v[2] : b.v[3];
}

// A uniform float in the open interval (0, 1): the top 23 bits plus one half,
// scaled by 2^-23. Every value is exact in float32, never 0 and never 1, and
// the same on every device (no rounding-mode dependence).
HC_HOST_DEVICE inline float uniform(uint32_t x) {
  return (static_cast<float>(x >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// The smallest word x with uniform(x) >= p, as a 64-bit number (2^32 or
// more: no word), so that "kept by dropout" is one integer comparison,
// x >= keep_threshold(p). Exact: uniform(x) = (k + 0.5) 2^-23 with k = x >> 9
// is a float with no rounding, so it is >= p exactly when the integer k is
// >= p 2^23 - 0.5, which double computes without rounding too.
HC_HOST_DEVICE inline uint64_t keep_threshold(float p) {
  const double k = ceil(static_cast<double>(p) * 8388608.0 - 0.5);
  return k <= 0 ? 0 : static_cast<uint64_t>(k) << 9;
}

// How far to advance an offset after drawing `count` numbers.
HC_HOST_DEVICE inline uint64_t blocks_for(uint64_t count) { return (count + 3) / 4; }

}  // namespace hc::philox
