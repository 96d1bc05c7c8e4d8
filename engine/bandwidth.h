// The machine's memory bandwidth: the second ceiling of a roofline, beside
// the FMA peak (engine/fma_peak.h). An op that moves `bytes` and computes
// `flops` runs no faster than min(FMA peak, bandwidth x flops / bytes): the
// first bound is the compute roof, the second the memory slope, and its
// arithmetic intensity (flops / bytes) says which one it is under.
//
// Measured as STREAM's triad does it (McCalpin): a[i] = b[i] + s c[i] over
// three float32 arrays far larger than any cache, split over the threads,
// counting 12 bytes per element (two reads, one write; the hardware's extra
// read of a's line before the write is not counted, as STREAM does not).
#pragma once

#include <cstdint>

namespace hc {

struct Bandwidth {
  double gbs = 0;        // the fastest repetition's rate, GB/s (10^9 bytes)
  int threads = 1;       // threads that ran it
  int64_t bytes = 0;     // bytes one repetition moves
};

// The triad on `threads` OpenMP threads over arrays of `elements` float32
// each (default 2^25: 128 MiB each), the fastest of `reps` repetitions.
Bandwidth measure_bandwidth(int threads, int reps = 5, int64_t elements = int64_t(1) << 25);

}  // namespace hc
