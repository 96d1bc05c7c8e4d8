#include "engine/fma_peak.h"

#include <algorithm>
#include <chrono>
#include <vector>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace hc {

// Each chain computes acc = acc * a + b. With a just below 1 the values
// settle near b / (1 - a) = 1 and never overflow or turn denormal, so every
// FMA runs at full speed. The arrays are indexed only in fully unrolled
// loops, so they live in registers (checked in the compiled loop: one
// vfmadd per chain and iteration, no loads or stores).
namespace {
constexpr float kA = 0.999999f, kB = 1e-6f;
}

#if defined(__AVX512F__)

namespace {
constexpr int kChains = 16, kLanes = 16;
}
const char* fma_kernel_name() { return "avx512"; }

float fma_kernel(int64_t iterations) {
  const __m512 a = _mm512_set1_ps(kA), b = _mm512_set1_ps(kB);
  __m512 acc[kChains];
#pragma GCC unroll 16
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 0.01f * float(c));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 16
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float lanes[16];  // (not _mm512_reduce_add_ps: gcc 12 warns falsely inside it)
  _mm512_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

#elif defined(__FMA__)

namespace {
constexpr int kChains = 12, kLanes = 8;
}
const char* fma_kernel_name() { return "avx2"; }

float fma_kernel(int64_t iterations) {
  const __m256 a = _mm256_set1_ps(kA), b = _mm256_set1_ps(kB);
  __m256 acc[kChains];
#pragma GCC unroll 12
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + 0.01f * float(c));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 12
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

#else

namespace {
constexpr int kChains = 8, kLanes = 1;
}
const char* fma_kernel_name() { return "scalar"; }

float fma_kernel(int64_t iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1.0f + 0.01f * float(c);
  for (int64_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * kA + kB;
  float total = 0;
  for (float v : acc) total += v;
  return total;
}

#endif

double fma_kernel_flops(int64_t iterations) { return 2.0 * kChains * kLanes * double(iterations); }

FmaPeak measure_fma_peak(int threads, int reps, double seconds_per_rep) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  // Calibrate on one thread: double the iterations until a run takes a
  // tenth of the wanted time, then scale up.
  int64_t iterations = 1 << 12;
  volatile float sink = 0;
  for (;;) {
    const auto a = clock::now();
    sink = sink + fma_kernel(iterations);
    const double s = seconds(a, clock::now());
    if (s >= 0.1 * seconds_per_rep || iterations > (int64_t(1) << 40)) {
      iterations = std::max<int64_t>(1, int64_t(double(iterations) * seconds_per_rep / std::max(s, 1e-9)));
      break;
    }
    iterations *= 2;
  }
  double best = 1e30;
  int ran = 1;
  for (int r = 0; r < reps; ++r) {
    clock::time_point start, end;
#ifdef _OPENMP
    std::vector<float> outputs(static_cast<size_t>(std::max(threads, 1)));
#pragma omp parallel num_threads(threads)
    {
      // Start together: the clock starts after every thread has arrived,
      // and stops when the last one is done.
#pragma omp barrier
#pragma omp master
      {
        ran = omp_get_num_threads();
        start = clock::now();
      }
      outputs[omp_get_thread_num()] = fma_kernel(iterations);
#pragma omp barrier
#pragma omp master
      end = clock::now();
    }
    for (float v : outputs) sink = sink + v;
#else
    (void)threads;
    start = clock::now();
    sink = sink + fma_kernel(iterations);
    end = clock::now();
#endif
    best = std::min(best, seconds(start, end));
  }
  return FmaPeak{fma_kernel_flops(iterations) * ran / best * 1e-9, ran, fma_kernel_name()};
}

}  // namespace hc
