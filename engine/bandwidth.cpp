// The triad bandwidth (engine/bandwidth.h).
#include "engine/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace hc {

Bandwidth measure_bandwidth(int threads, int reps, int64_t elements) {
  threads = std::max(threads, 1);
  std::vector<float> a(static_cast<size_t>(elements)), b(a.size()), c(a.size());
  // First touch on the threads that use each part, as the triad splits it.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < elements; ++i) a[i] = 0, b[i] = 1, c[i] = float(i % 7);
  double best = 1e30;
  const float s = 0.5f;
  float* pa = a.data();
  const float *pb = b.data(), *pc = c.data();
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < elements; ++i) pa[i] = pb[i] + s * pc[i];
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  volatile float sink = a[static_cast<size_t>(elements / 2)];  // the triad's result is used
  (void)sink;
  const int64_t bytes = 3 * elements * static_cast<int64_t>(sizeof(float));
  return {static_cast<double>(bytes) / best * 1e-9, threads, bytes};
}

}  // namespace hc
