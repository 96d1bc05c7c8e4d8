// A register-blocked AVX-512 product for the fused attention's tiles
// (engine/cpu_tuned/attention.cpp): eight query rows against a band of keys,
// a block of position rows or of persistent vectors, with D (16..128) in the
// sum or in the columns.
//
//   C (M,N) = alpha op(A) B + beta C,   B stored row-major (K,N)
//
// The same product as small_gemm.h, blocked for the tiles' shapes: 8 rows of
// C at a time (the tile's query rows) and panels of at most 48 columns, the
// last panel only as many 16-lane vectors as its columns need. small_gemm's
// panels of 64 columns would spend three of four vectors on nothing for a
// band of 72 keys, and on 65 position rows. 8 x 3 accumulators, 3 loads of
// B's row and 8 broadcasts of A per k: the two FMA units set the pace. Each
// element of C is one lane's sum over k in k order, as in small_gemm.h, so
// the blocking never changes a result. tests/test_cpu_kernels.cpp checks it
// against the plain product.
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>

#include <algorithm>

namespace hc::tile_gemm {

// Rows 0..R-1 and vectors 0..V-1 (the last one's lanes `last`) of C; op(A)(r,
// k) is a[r*lda + k], or a[k*lda + r] when TA (A stored transposed).
template <int R, int V, bool TA>
inline void block(int64_t K, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                  float* c, int64_t ldc, __mmask16 last) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 row[V];
    for (int v = 0; v < V; ++v)
      row[v] = v + 1 < V ? _mm512_loadu_ps(b + k * ldb + 16 * v) : _mm512_maskz_loadu_ps(last, b + k * ldb + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(TA ? a[k * lda + r] : a[r * lda + k]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, row[v], acc[r][v]);
    }
  }
  // C = alpha acc + beta C; with beta = 0, C is never read (it may hold garbage).
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      const __mmask16 lanes = v + 1 < V ? __mmask16(0xFFFF) : last;
      float* out = c + r * ldc + 16 * v;
      __m512 y = _mm512_mul_ps(al, acc[r][v]);
      if (beta != 0.0f) y = _mm512_fmadd_ps(be, _mm512_maskz_loadu_ps(lanes, out), y);
      _mm512_mask_storeu_ps(out, lanes, y);
    }
}

// Every row of one panel of V vectors: blocks of 8 rows, then 4, then 1.
template <int V, bool TA>
inline void panel(int64_t M, int64_t K, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float beta, float* c, int64_t ldc, __mmask16 last) {
  // Row i of op(A) starts at a + i*lda, or at a + i when A is stored transposed.
  const int64_t step = TA ? 1 : lda;
  int64_t i = 0;
  for (; i + 8 <= M; i += 8) block<8, V, TA>(K, alpha, a + i * step, lda, b, ldb, beta, c + i * ldc, ldc, last);
  for (; i + 4 <= M; i += 4) block<4, V, TA>(K, alpha, a + i * step, lda, b, ldb, beta, c + i * ldc, ldc, last);
  for (; i < M; ++i) block<1, V, TA>(K, alpha, a + i * step, lda, b, ldb, beta, c + i * ldc, ldc, last);
}

// C (M,N) = alpha op(A) B + beta C for B stored (K,N) with row stride ldb.
template <bool TA>
inline void gemm_t(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t j = 0; j < N; j += 48) {
    const int64_t cols = std::min<int64_t>(48, N - j), vectors = (cols + 15) / 16;
    const __mmask16 last = static_cast<__mmask16>((1u << (cols - 16 * (vectors - 1))) - 1);
    if (vectors == 3) panel<3, TA>(M, K, alpha, a, lda, b + j, ldb, beta, c + j, ldc, last);
    else if (vectors == 2) panel<2, TA>(M, K, alpha, a, lda, b + j, ldb, beta, c + j, ldc, last);
    else panel<1, TA>(M, K, alpha, a, lda, b + j, ldb, beta, c + j, ldc, last);
  }
}

inline void gemm(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (ta) gemm_t<true>(M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  else gemm_t<false>(M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace hc::tile_gemm
#endif  // __AVX512F__
