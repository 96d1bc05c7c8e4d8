// The CPU backend (engine/cpu_backend.cpp) as the rest of the engine and the
// tests see it: the backend itself, and the plain loops that its tuned paths
// (engine/cpu_tuned/) are checked against.
//
// A plain loop is the primitive's definition written out; a tuned path
// computes the same thing faster on some shapes or CPUs. Where one replaces
// the other, the plain loop stays callable here, and tests/test_cpu_kernels.cpp
// runs the two against each other.
#pragma once

#include <cstdint>

#include "engine/backend.h"

namespace hc {

// The process's one CPU backend; backend(Device::CPU) returns it.
Backend& cpu_backend();

namespace cpu {

// One row-major product on raw pointers:
//
//   C (M,N) = alpha op(A) op(B) + beta C,   op(X) = X^T when its flag is set
//
// op(A) is (M,K): A is stored (M,K), or (K,M) with ta; each stored row is lda
// elements after the one before. B likewise ((K,N), or (N,K) with tb), and C
// (M,N) with row stride ldc.
template <typename T>
struct Product {
  bool ta = false, tb = false;
  int64_t M = 0, N = 0, K = 0;
  T alpha = 1;
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T beta = 0;
  T* c = nullptr;
  int64_t ldc = 0;
};

// The 64 numbers of Philox blocks base..base+15 in plain::philox_16's layout:
// the AVX-512 kernel (engine/cpu_tuned/philox_avx512.h) where the CPU has it,
// else the plain loop. Dropout and the fused attention draw through it.
void philox_16(uint64_t base, uint32_t stream, uint32_t slice, uint32_t key0, uint32_t key1, uint32_t* words);
// Bit e set where words[e] >= threshold, e = 0..63 (philox::keep_threshold:
// bit e is "element e is kept"); AVX-512 compares where the CPU has them.
uint64_t kept_bits_64(const uint32_t* words, uint64_t threshold);

namespace plain {

// The product p with Eigen: C = beta C (exactly 0 when beta = 0, so that
// NaN or garbage in C never leaks through 0 * C), then C += alpha op(A) op(B).
// Eigen runs it on its own threads when called outside a parallel region.
// Instantiated for float and double.
template <typename T>
void gemm(const Product<T>& p);

// The 64 numbers of Philox blocks base..base+15 (counter words: block low,
// block high, stream, slice; key: key0, key1) in element order: words[4l + j]
// is word j of block base + l. One philox4x32_10 call (engine/rng.h) per block.
void philox_16(uint64_t base, uint32_t stream, uint32_t slice, uint32_t key0, uint32_t key1, uint32_t* words);
// Bit e set where words[e] >= threshold, e = 0..63: one comparison at a time.
uint64_t kept_bits_64(const uint32_t* words, uint64_t threshold);

}  // namespace plain
}  // namespace cpu
}  // namespace hc
