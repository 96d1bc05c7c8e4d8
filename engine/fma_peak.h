// The machine's FMA peak: the float32 rate of fused multiply-adds that never
// wait on memory or on each other. It is the physical ceiling every MFU
// figure is measured against (docs/results.md), measured in the same run as
// the figure, because this project's machines change speed from minute to
// minute.
//
// The kernel keeps independent FMA chains in vector registers (AVX-512: 16
// chains of 16 floats; AVX2 + FMA3: 12 chains of 8; otherwise 8 scalar
// chains), enough to cover the FMA latency on every port; the chains read
// nothing from memory. Which kernel is compiled follows the build's target
// (-march=native by default).
#pragma once

#include <cstdint>

namespace hc {

struct FmaPeak {
  double gflops = 0;          // the fastest repetition's rate, all threads together
  int threads = 1;            // threads that ran the kernel, one chain set each
  const char* kernel = "";    // "avx512", "avx2" or "scalar"
};

// The kernel compiled into this build.
const char* fma_kernel_name();

// Floating point operations of one call to fma_kernel (a multiply-add counts 2).
double fma_kernel_flops(int64_t iterations);

// Runs the chains for `iterations` steps on the calling thread; returns a
// value that depends on every chain, so the compiler cannot drop the work.
float fma_kernel(int64_t iterations);

// The peak on `threads` OpenMP threads (one kernel per thread, started
// together): each repetition runs about `seconds_per_rep` seconds, and the
// fastest of `reps` counts (on a shared machine other work only ever slows a
// repetition down).
FmaPeak measure_fma_peak(int threads, int reps = 5, double seconds_per_rep = 0.02);

}  // namespace hc
