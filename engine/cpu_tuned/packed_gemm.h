// A packed AVX-512 float32 GEMM for the large products of the linear layers,
// on one thread:
//
//   C (M,N) = alpha op(A) op(B) + beta C,   all row-major
//
// K is cut into slices of KC. For each slice, op(B) (KC x N) is copied into
// panels of NR = 64 columns, k-major, so that one k's 64 numbers are four
// consecutive vectors (a last panel of fewer columns runs on as few of them
// as cover it). The micro-kernel holds an MR x NR = 6 x 64 tile of C
// in 24 registers and, for each k, loads the 4 vectors of B and broadcasts
// the 6 numbers of A in that column: 24 FMAs per 10 loads, so the two FMA
// units, not the loads, set the pace (in L1 it runs near their peak:
// docs/cpu-kernels.md).
//
// Around it: C is done MC = 96 rows at a time, and within them B panel by B
// panel, so one B panel (KC x 64 floats, 64 KiB) is used by 16 tiles in a
// row while the A rows come from L2. A row-major A is read in place, 6 rows
// each read forward: packing it into panels cost more than it saved.
// A transposed A (a weight gradient, dy^T x) has each k's 6 numbers side by
// side in memory and is packed into k-major panels, one masked 6-float move
// per k. A last panel of fewer than 6 rows is copied, zero-padded; B panels
// are zero-padded past N, and edge tiles of C go through a small buffer, so
// any shape works.
//
// Each C element is one register lane's sum over k, in slices of KC, in k
// order: the result depends on the shape alone, not on which rows a thread
// was given.
//
// The dispatch (engine/cpu_tuned/gemm.cpp) sends it float32 products on one
// thread with M, N, K >= 64; tests/test_cpu_kernels.cpp checks it against the
// plain product (cpu::plain::gemm) on awkward shapes.
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "engine/cpu_tuned/small_gemm.h"

namespace hc::packed_gemm {

constexpr int64_t MR = 6, NR = 64, KC = 256, MC = 96;

// Panels of op(B)'s rows k0..k0+kc, columns 0..N: panel p holds columns
// p*NR..p*NR+NR-1 as [k][c]; columns past N are zeros.
// A stored-transposed B (the linear layer's weight, x w^T) is a whole
// panel's rows j0..j0+63 of w, columns k0..: transposed in 16 x 16 register
// tiles (small_gemm::transpose), not gathered one element at a time.
inline void pack_b(bool tb, const float* b, int64_t ldb, int64_t k0, int64_t kc, int64_t N, float* out) {
  for (int64_t j0 = 0; j0 < N; j0 += NR) {
    const int64_t cols = std::min(NR, N - j0);
    float* panel = out + j0 * kc;
    if (tb && cols == NR) {
      small_gemm::transpose(b + j0 * ldb + k0, ldb, NR, kc, panel);
      continue;
    }
    for (int64_t k = 0; k < kc; ++k) {
      float* dst = panel + k * NR;
      if (!tb) {  // op(B)(k, j) = b[k*ldb + j]: a contiguous run
        const float* src = b + (k0 + k) * ldb + j0;
        int64_t c = 0;
        for (; c < cols; ++c) dst[c] = src[c];
        for (; c < NR; ++c) dst[c] = 0.0f;
      } else {  // op(B)(k, j) = b[j*ldb + k]
        int64_t c = 0;
        for (; c < cols; ++c) dst[c] = b[(j0 + c) * ldb + k0 + k];
        for (; c < NR; ++c) dst[c] = 0.0f;
      }
    }
  }
}

// The last rows < MR of a block, rows i0.. of op(A)'s columns k0..k0+kc,
// into one k-major panel, out[k*MR + r], zero-padded to MR rows.
inline void pack_last_rows(bool ta, const float* a, int64_t lda, int64_t i0, int64_t rows, int64_t k0, int64_t kc,
                           float* out) {
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t k = 0; k < kc; ++k)
      out[k * MR + r] = r >= rows ? 0.0f : ta ? a[(k0 + k) * lda + i0 + r] : a[(i0 + r) * lda + k0 + k];
}

// Whole panels of MR rows of a transposed A, op(A)(i, k) = a[k*lda + i],
// rows i0..i0+mc (a multiple of MR), columns k0..k0+kc, as [k][r]: each k's
// six numbers are one run of the stored row k, moved by one masked load
// and store. Row k is walked forward across the panels (k outside): one
// pass over each stored row, where going panel by panel came back to each
// row's cache lines for every panel.
inline void pack_transposed(const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                            float* out) {
  const __mmask8 six = (1u << MR) - 1;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = a + (k0 + k) * lda + i0;
    for (int64_t p = 0; p < mc / MR; ++p)
      _mm256_mask_storeu_ps(out + p * MR * kc + k * MR, six, _mm256_maskz_loadu_ps(six, src + p * MR));
  }
}

// The MR x 16V tile (V of the panel's four 16-float vectors; V = 4 is the
// whole NR = 64): c (row stride ldc) = first ? alpha A·bp + beta c + bias : c + alpha A·bp
// (bias, 16V numbers added to every row, or null),
// A's element (r, k) at a[r*rs + k*ks]: a packed panel (rs = 1, ks = MR), or
// rows of a row-major A read in place (rs = lda, ks = 1).
// A last panel of N's columns runs with the fewest vectors that cover it,
// so that 96 columns cost 96 columns' work, not two whole panels' 128.
template <int V>
inline void kernel(int64_t kc, const float* a, int64_t rs, int64_t ks, const float* bp, float alpha, float beta,
                   bool first, const float* bias, float* c, int64_t ldc) {
  // The tile of C is read at the end: ask for its lines now.
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < V; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * v), _MM_HINT_T0);
  __m512 acc[MR][V];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  // Fully unrolled, so that acc stays in registers.
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = _mm512_load_ps(bp + k * NR + 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * rs + k * ks]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(first ? beta : 1.0f);
  const bool read_c = !first || beta != 0.0f;  // beta = 0: C may hold garbage, never read
  const bool add_bias = first && bias != nullptr;
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < V; ++v) {
      float* out = c + r * ldc + 16 * v;
      __m512 y = _mm512_mul_ps(al, acc[r][v]);
      if (read_c) y = _mm512_fmadd_ps(be, _mm512_loadu_ps(out), y);
      if (add_bias) y = _mm512_add_ps(y, _mm512_loadu_ps(bias + 16 * v));
      _mm512_storeu_ps(out, y);
    }
}

// kernel<V> for a last panel's V = vecs (1..3) vectors, chosen at run
// time. Kept out of line: inlined beside the whole-panel kernel, they made
// it slower (docs/cpu-kernels.md).
[[gnu::noinline]] inline void tail_kernel(int vecs, int64_t kc, const float* a, int64_t rs, int64_t ks, const float* bp,
                                          float alpha, float beta, bool first, const float* bias, float* c, int64_t ldc) {
  switch (vecs) {
    case 1: return kernel<1>(kc, a, rs, ks, bp, alpha, beta, first, bias, c, ldc);
    case 2: return kernel<2>(kc, a, rs, ks, bp, alpha, beta, first, bias, c, ldc);
    default: return kernel<3>(kc, a, rs, ks, bp, alpha, beta, first, bias, c, ldc);
  }
}

// The tile of `vecs` vectors: the whole-panel kernel inline, a tail out of line.
inline void kernel_of(int vecs, int64_t kc, const float* a, int64_t rs, int64_t ks, const float* bp, float alpha,
                      float beta, bool first, const float* bias, float* c, int64_t ldc) {
  if (vecs == 4) return kernel<4>(kc, a, rs, ks, bp, alpha, beta, first, bias, c, ldc);
  tail_kernel(vecs, kc, a, rs, ks, bp, alpha, beta, first, bias, c, ldc);
}

// The whole product on the calling thread; M, N, K >= 1.
// With a bias (N numbers, or null), C = alpha op(A) op(B) + beta C + bias in
// every row: a linear layer's forward, its bias added as each tile is first
// stored, not in a pass of its own over C.
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias = nullptr) {
  const int64_t Np = (N + NR - 1) / NR * NR;
  thread_local std::vector<float> b_buf, a_panels, a_last;
  // 64-byte alignment for the B panels' vector loads: over-allocate and round.
  b_buf.resize(KC * Np + 16);
  a_last.resize(MR * KC);
  if (ta) a_panels.resize(MC * KC);
  float* bp = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(b_buf.data()) + 63) & ~uintptr_t(63));
  alignas(64) float tile[MR * NR], tile_bias[NR];
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = std::min(KC, K - k0);
    const bool first = k0 == 0;
    pack_b(tb, b, ldb, k0, kc, N, bp);
    for (int64_t i0 = 0; i0 < M; i0 += MC) {
      const int64_t mc = std::min(MC, M - i0), whole = mc / MR * MR;
      if (ta) pack_transposed(a, lda, i0, whole, k0, kc, a_panels.data());
      if (whole < mc) pack_last_rows(ta, a, lda, i0 + whole, mc - whole, k0, kc, a_last.data());
      for (int64_t j0 = 0; j0 < N; j0 += NR) {
        const int64_t cols = std::min(NR, N - j0);
        for (int64_t r0 = 0; r0 < mc; r0 += MR) {
          // Whole panels of a row-major A are read in place (rows r0.., k0..);
          // those of a transposed A, and the last partial one, from their packed copies.
          const bool in_place = r0 < whole && !ta;
          const float* at = in_place ? a + (i0 + r0) * lda + k0 : r0 < whole ? a_panels.data() + r0 * kc : a_last.data();
          const int64_t rs = in_place ? lda : 1, ks = in_place ? 1 : MR;
          const int64_t rows = std::min(MR, mc - r0);
          const int vecs = static_cast<int>((cols + 15) / 16);
          float* ct = c + (i0 + r0) * ldc + j0;
          if (rows == MR && cols == 16 * vecs) {
            kernel_of(vecs, kc, at, rs, ks, bp + j0 * kc, alpha, beta, first, bias ? bias + j0 : nullptr, ct, ldc);
            continue;
          }
          // An edge tile: through the buffer, copying in only what is inside C.
          for (int64_t r = 0; r < MR; ++r)
            for (int64_t j = 0; j < NR; ++j) tile[r * NR + j] = r < rows && j < cols ? ct[r * ldc + j] : 0.0f;
          for (int64_t j = 0; j < NR; ++j) tile_bias[j] = bias && j < cols ? bias[j0 + j] : 0.0f;
          kernel_of(vecs, kc, at, rs, ks, bp + j0 * kc, alpha, beta, first, bias ? tile_bias : nullptr, tile, NR);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) ct[r * ldc + j] = tile[r * NR + j];
        }
      }
    }
  }
}

}  // namespace hc::packed_gemm

#endif  // __AVX512F__
