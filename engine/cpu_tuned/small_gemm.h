// A register-blocked AVX-512 kernel for the many small float32 products of
// attention: scores q·k^T (T x S, inner D), weighted sums p·v (T x D, inner
// S) and their gradients, batched over heads and sequences.
//
//   C (M,N) = alpha op(A) B + beta C,   B stored row-major (K,N)
//
// Eigen packs both operands into cache-sized panels before its inner kernel
// runs; for a product whose whole B (K x N) fits in L1/L2 that packing and
// blocking is most of the work. Here B is read in place: R rows of C at a
// time, V vectors of 16 columns, R x V accumulators in registers, and for
// every k one load of B's row segment feeds R broadcast-FMAs. R x V is 4 x 4
// over whole passes of 64 columns and 8 x 1, 8 x 2 or 8 x 3 over the
// columns left (at least 8 accumulators, so the FMA units, not the loads,
// set the pace). Partial vectors at the right edge use AVX-512 masks, so any
// N works without padding. A tail of at most 4 columns turns the blocking
// around: 16 rows of one column per vector (column_block).
//
// It beats Eigen on attention's products and loses to it on products with
// a large B (the linear layers), which is why the dispatch
// (engine/cpu_tuned/gemm.cpp) sends only batched products with a small B
// here (docs/cpu-kernels.md has the numbers). tests/test_cpu_kernels.cpp
// checks it against the plain product (cpu::plain::gemm).
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>

#include <algorithm>

namespace hc::small_gemm {

// Products whose B holds at most this many elements (128 KiB of float32)
// are small enough: B stays in L2 while every block of rows streams it.
constexpr int64_t kMaxBElements = 32768;

// The mask of a vector's first n lanes (none for n <= 0, all 16 for n >= 16).
inline __mmask16 first_lanes(int64_t n) {
  return static_cast<__mmask16>((1u << std::clamp<int64_t>(n, 0, 16)) - 1);
}

// Rows i..i+R of C. op(A)(r, k) is a[r*lda + k], or a[k*lda + r] when A is
// stored transposed (a strided scalar: it is only ever broadcast).
template <int R, int V>
inline void row_block(int64_t i, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, bool ta,
                      const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t j = 0; j < N; j += 16 * V) {
    __mmask16 mask[V];  // which lanes of each vector are inside C
    for (int v = 0; v < V; ++v) mask[v] = first_lanes(N - j - 16 * v);
    __m512 acc[R][V];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      __m512 row[V];
      for (int v = 0; v < V; ++v) row[v] = _mm512_maskz_loadu_ps(mask[v], b + k * ldb + j + 16 * v);
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(ta ? a[k * lda + i + r] : a[(i + r) * lda + k]);
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, row[v], acc[r][v]);
      }
    }
    // C = alpha acc + beta C; with beta = 0, C is never read (it may hold garbage).
    const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) {
        if (!mask[v]) continue;
        float* out = c + (i + r) * ldc + j + 16 * v;
        __m512 y = _mm512_mul_ps(al, acc[r][v]);
        if (beta != 0.0f) y = _mm512_fmadd_ps(be, _mm512_maskz_loadu_ps(mask[v], out), y);
        _mm512_mask_storeu_ps(out, mask[v], y);
      }
  }
}

// out (K,N) = B^T for B stored (N,K) with row stride ldb: a B the product
// wants as (K,N) rows. Tiles of 16 x 16 are transposed in registers (16
// loads, 64 shuffles, 16 stores for 256 elements), the edges one element
// at a time: an element loop throughout had taken a third of the time of
// attention's scores against k (a 64 x 128 x 32 product).
inline void transpose(const float* b, int64_t ldb, int64_t N, int64_t K, float* out) {
  const int64_t N16 = N / 16 * 16, K16 = K / 16 * 16;
  for (int64_t n0 = 0; n0 < N16; n0 += 16)
    for (int64_t k0 = 0; k0 < K16; k0 += 16) {
      __m512 r[16], u[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(b + (n0 + i) * ldb + k0);
      // In each 128-bit lane L (columns 4L..4L+3): u[4q + c] = column 4L + c of rows 4q..4q+3.
      for (int q = 0; q < 4; ++q) {
        const __m512 lo01 = _mm512_unpacklo_ps(r[4 * q], r[4 * q + 1]),
                     hi01 = _mm512_unpackhi_ps(r[4 * q], r[4 * q + 1]);
        const __m512 lo23 = _mm512_unpacklo_ps(r[4 * q + 2], r[4 * q + 3]),
                     hi23 = _mm512_unpackhi_ps(r[4 * q + 2], r[4 * q + 3]);
        u[4 * q] = _mm512_shuffle_ps(lo01, lo23, 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
        u[4 * q + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
      }
      // Gather lane L of u[c], u[4+c], u[8+c], u[12+c]: column 4L + c, all 16 rows.
      for (int c = 0; c < 4; ++c) {
        const __m512 v_lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88),
                     v_hi = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 w_lo = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88),
                     w_hi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        _mm512_storeu_ps(out + (k0 + c) * N + n0, _mm512_shuffle_f32x4(v_lo, w_lo, 0x88));
        _mm512_storeu_ps(out + (k0 + 8 + c) * N + n0, _mm512_shuffle_f32x4(v_lo, w_lo, 0xDD));
        _mm512_storeu_ps(out + (k0 + 4 + c) * N + n0, _mm512_shuffle_f32x4(v_hi, w_hi, 0x88));
        _mm512_storeu_ps(out + (k0 + 12 + c) * N + n0, _mm512_shuffle_f32x4(v_hi, w_hi, 0xDD));
      }
    }
  // Edges: the columns past K16 of every row, and the rows past N16.
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = n < N16 ? K16 : 0; k < K; ++k) out[k * N + n] = b[n * ldb + k];
}

// The first C columns of the first `rows` rows of C at c (rows <= 16 G),
// for a tail of a few columns: here each vector holds one column of 16 rows, so a k costs
// one load of A^T per 16 rows, C broadcasts of B and G x C FMAs, where a row
// block would broadcast each row's A and spend a whole 16-lane FMA on one
// column. at is A^T, (K, rows) with row stride ldat. Each element still sums
// its K products in k order from zero, then alpha and beta as row_block
// does, so its bits are those of any other block.
template <int G, int C>
inline void column_block(int64_t rows, int64_t K, float alpha, const float* at, int64_t ldat, const float* b,
                         int64_t ldb, float beta, float* c, int64_t ldc) {
  __mmask16 mask[G];  // which lanes of each group are rows of C
  for (int g = 0; g < G; ++g) mask[g] = first_lanes(rows - 16 * g);
  __m512 acc[G][C];
  for (int g = 0; g < G; ++g)
    for (int j = 0; j < C; ++j) acc[g][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 col[G];
    for (int g = 0; g < G; ++g) col[g] = _mm512_maskz_loadu_ps(mask[g], at + k * ldat + 16 * g);
    for (int j = 0; j < C; ++j) {
      const __m512 x = _mm512_set1_ps(b[k * ldb + j]);
      for (int g = 0; g < G; ++g) acc[g][j] = _mm512_fmadd_ps(col[g], x, acc[g][j]);
    }
  }
  // C's column is strided by ldc: through a buffer, one element at a time.
  const __m512 al = _mm512_set1_ps(alpha), be = _mm512_set1_ps(beta);
  alignas(64) float lane[16];
  for (int g = 0; g < G; ++g)
    for (int j = 0; j < C; ++j) {
      const int64_t n = std::min<int64_t>(rows - 16 * g, 16);
      float* out = c + 16 * g * ldc + j;
      __m512 y = _mm512_mul_ps(al, acc[g][j]);
      if (beta != 0.0f) {
        for (int64_t l = 0; l < n; ++l) lane[l] = out[l * ldc];
        y = _mm512_fmadd_ps(be, _mm512_maskz_load_ps(mask[g], lane), y);
      }
      _mm512_store_ps(lane, y);
      for (int64_t l = 0; l < n; ++l) out[l * ldc] = lane[l];
    }
}

// The narrow path takes up to kNarrow columns and an inner size of at most
// kNarrowMaxK (A's transposed rows must fit the stack buffer below).
constexpr int64_t kNarrow = 4, kNarrowMaxK = 128;

// The N columns of `rows` rows of C at c, two columns per column_block.
template <int G>
inline void column_pairs(int64_t rows, int64_t N, int64_t K, float alpha, const float* at, int64_t ldat,
                         const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 2 <= N; j += 2) column_block<G, 2>(rows, K, alpha, at, ldat, b + j, ldb, beta, c + j, ldc);
  if (j < N) column_block<G, 1>(rows, K, alpha, at, ldat, b + j, ldb, beta, c + j, ldc);
}

// C (M, N) = alpha op(A) B + beta C for the few columns left, N <= kNarrow,
// with rows as the vectors' lanes (column_block), 64 rows at a time. A
// stored (M, K) is first transposed, 64 rows at a time, into a buffer on the
// stack. Kept out of line: inlined into gemm, it slowed gemm's whole-pass
// products (as the tail kernel of packed_gemm.h did).
[[gnu::noinline]] inline void narrow_columns(int64_t M, int64_t N, int64_t K, float alpha, const float* a,
                                             int64_t lda, bool ta, const float* b, int64_t ldb, float beta,
                                             float* c, int64_t ldc) {
  alignas(64) float buffer[kNarrowMaxK * 64];
  for (int64_t i = 0; i < M; i += 64) {
    const int64_t rows = std::min<int64_t>(M - i, 64);
    const float* at = a + i;  // A^T's columns i.. when A is stored transposed
    int64_t ldat = lda;
    if (!ta) {
      transpose(a + i * lda, lda, rows, K, buffer);
      at = buffer, ldat = rows;
    }
    float* ci = c + i * ldc;
    switch ((rows + 15) / 16) {
      case 1: column_pairs<1>(rows, N, K, alpha, at, ldat, b, ldb, beta, ci, ldc); break;
      case 2: column_pairs<2>(rows, N, K, alpha, at, ldat, b, ldb, beta, ci, ldc); break;
      case 3: column_pairs<3>(rows, N, K, alpha, at, ldat, b, ldb, beta, ci, ldc); break;
      default: column_pairs<4>(rows, N, K, alpha, at, ldat, b, ldb, beta, ci, ldc); break;
    }
  }
}

// Every row of C (M,N), R rows at a time, then the rows left one at a time.
template <int R, int V>
inline void all_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda, bool ta,
                     const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + R <= M; i += R) row_block<R, V>(i, N, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  for (; i < M; ++i) row_block<1, V>(i, N, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
}

// C (M,N) = alpha op(A) B + beta C for B stored (K,N) with row stride ldb.
// Columns in whole passes of 4 vectors (64 columns), then the columns left
// with as few vectors as cover them: a masked lane still costs its FMA, so
// a 4-vector pass over the last column of a 65-column product (attention's
// M+1 position scores) would cost as much as 64 columns. With fewer vectors,
// 8 rows at a time keep 8 to 24 accumulators busy; up to 4 columns go by
// column, 16 rows a vector, where 8 rows of one masked vector still paid a
// broadcast and a 16-lane FMA per row for one column (the 32 x 65 position
// scores took twice the time of 32 x 64). Each element of C sums its K
// products in the same order whichever block computes it, so the split
// changes no bit of the result (tests/test_cpu_kernels.cpp checks it).
inline void gemm(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const int64_t wide = N / 64 * 64, rest = N - wide;
  if (wide > 0) all_rows<4, 4>(M, wide, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  if (rest == 0 || M == 0) return;
  // The columns left start `wide` in. An empty B (K = 0) may be a null
  // pointer, which no offset may be applied to; none of its rows is read.
  if (K > 0) b += wide;
  c += wide;
  if (rest <= kNarrow && K > 0 && K <= kNarrowMaxK)
    narrow_columns(M, rest, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  else if (rest <= 16) all_rows<8, 1>(M, rest, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  else if (rest <= 32) all_rows<8, 2>(M, rest, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  else if (rest <= 48) all_rows<8, 3>(M, rest, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
  else all_rows<4, 4>(M, rest, K, alpha, a, lda, ta, b, ldb, beta, c, ldc);
}

}  // namespace hc::small_gemm
#endif  // __AVX512F__
