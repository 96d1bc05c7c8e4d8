// The CPU backend's tuned kernels (engine/cpu_tuned/) against the plain
// loops they stand in for (engine/cpu_backend.h), called directly on awkward
// shapes: edge tiles and partial vectors, leading dimensions wider than the
// matrix, every transpose, beta 0 (with NaN in C, which must not be read), 1
// and other, with and without a bias. Bit for bit where the tuned path claims
// to be (Philox, the transpose), within a rounding bound where it sums in
// another order (the GEMMs).
//
// The tuned paths seen through the backend are tested elsewhere: the GEMM
// dispatch (row blocks, K slices, gemm_bias, gemm_heads, gemm_pair) against
// naive sums in tests/test_ops.cpp; dropout's bit record and the one-pass
// softmax-through-dropout backward against Backend's defaults, bit for bit,
// and random_uniform against RandomKey::bits, in tests/test_rng.cpp; the
// vectorisable exp in tests/test_exp_nonpositive.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cpu_backend.h"
#include "engine/cpu_tuned/packed_gemm.h"
#include "engine/cpu_tuned/philox_avx512.h"
#include "engine/cpu_tuned/small_gemm.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

// n numbers uniform in [-1, 1), the same for the same seed.
std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// The operands of one float32 product, stored in buffers wider than the
// matrices: each stored row of A, B and C has `pad` unused elements after it.
struct Operands {
  cpu::Product<float> p;
  std::vector<float> a, b, c, bias;

  Operands(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta, int64_t pad, uint32_t seed) {
    const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    a = random_floats(a_rows * (a_cols + pad), seed);
    b = random_floats(b_rows * (b_cols + pad), seed + 1);
    c = random_floats(M * (N + pad), seed + 2);
    bias = random_floats(N, seed + 3);
    if (beta == 0.0f)  // C must not be read: NaN in it must not reach the result
      for (int64_t i = 0; i < M; ++i) c[i * (N + pad)] = NAN;
    p = {ta, tb, M, N, K, 0.75f, a.data(), a_cols + pad, b.data(), b_cols + pad, beta, c.data(), N + pad};
  }
};

// The plain product of o's A and B and C = `start` in double, plus the bias
// in every row when with_bias, element (i, j) at [i * N + j]. With
// `magnitudes`, the same sum over |terms|: the scale of each element's
// rounding error in float.
std::vector<double> reference(const Operands& o, const std::vector<float>& start, bool with_bias, bool magnitudes) {
  const cpu::Product<float>& p = o.p;
  auto to_double = [&](const std::vector<float>& v) {
    std::vector<double> d(v.begin(), v.end());
    if (magnitudes)
      for (double& x : d) x = std::fabs(x);
    return d;
  };
  const std::vector<double> a = to_double(o.a), b = to_double(o.b), bias = to_double(o.bias);
  std::vector<double> c = to_double(start);
  cpu::Product<double> q{p.ta,   p.tb,  p.M,       p.N, p.K, magnitudes ? std::fabs(p.alpha) : p.alpha, a.data(), p.lda,
                         b.data(), p.ldb, magnitudes ? std::fabs(p.beta) : p.beta, c.data(), p.ldc};
  cpu::plain::gemm(q);
  std::vector<double> out(p.M * p.N);
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) out[i * p.N + j] = c[i * p.ldc + j] + (with_bias ? bias[j] : 0.0);
  return out;
}

// Checks C after a product of o's shape ran on it, starting from `start`:
// inside the window, within (K+3) float roundings of the sum of magnitudes
// of the exact value; outside it, untouched. Returns the worst error in
// units of that bound (<= 1 passes).
double check_against_plain(const Operands& o, const std::vector<float>& start, bool with_bias) {
  const cpu::Product<float>& p = o.p;
  const std::vector<double> want = reference(o, start, with_bias, false), bound = reference(o, start, with_bias, true);
  double worst = 0;
  bool finite = true, outside_untouched = true;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.ldc; ++j) {
      const float got = o.c[i * p.ldc + j];
      if (j >= p.N) {
        outside_untouched = outside_untouched && got == start[i * p.ldc + j];
        continue;
      }
      finite = finite && std::isfinite(got);
      const double tol = (p.K + 3) * 0x1p-24 * bound[i * p.N + j];
      worst = std::max(worst, std::fabs(got - want[i * p.N + j]) / std::max(tol, 1e-30));
    }
  CHECK(finite);
  CHECK(outside_untouched);
  return worst;
}

}  // namespace

TEST_CASE("plain gemm: the oracle itself, float32 within rounding of float64") {
  // The tuned kernels below are checked against cpu::plain::gemm in double;
  // here the float32 plain product meets the same bound, on the same shapes.
  struct Size { int64_t M, N, K; };
  for (Size sz : {Size{1, 1, 1}, Size{7, 65, 257}, Size{13, 5, 600}})
    for (int flags = 0; flags < 8; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      const float beta = flags & 4 ? 0.0f : -1.5f;
      CAPTURE(sz.M);
      CAPTURE(flags);
      Operands o(ta, tb, sz.M, sz.N, sz.K, beta, 3, 100);
      const std::vector<float> start = o.c;
      cpu::plain::gemm(o.p);
      CHECK(check_against_plain(o, start, false) <= 1.0);
    }
}

#ifdef __AVX512F__

TEST_CASE("packed_gemm: against the plain product, edge tiles, every transpose, beta and bias") {
  // The kernel's tile is 6 x 64, K goes in slices of 256 and C in blocks of
  // 96 rows: sizes just under, at and over each, and 1. Rows of every
  // operand are 3 elements wider than the matrix.
  struct Size { int64_t M, N, K; };
  // The last panel's tail kernels too: 16, 32 and 48 columns straight into C
  // (80, 96, 112), and 36 through the buffer (100).
  for (Size sz : {Size{1, 1, 1}, Size{5, 63, 255}, Size{6, 64, 256}, Size{7, 65, 257}, Size{97, 130, 600},
                  Size{103, 70, 65}, Size{13, 129, 300}, Size{6, 80, 33}, Size{12, 96, 70}, Size{18, 112, 40},
                  Size{13, 100, 64}})
    for (int flags = 0; flags < 24; ++flags) {
      const bool ta = flags & 1, tb = flags & 2, with_bias = flags & 4;
      const float beta = std::array<float, 3>{0.0f, 1.0f, -1.5f}[flags / 8];
      CAPTURE(sz.M);
      CAPTURE(sz.N);
      CAPTURE(sz.K);
      CAPTURE(flags);
      Operands o(ta, tb, sz.M, sz.N, sz.K, beta, 3, 7);
      const std::vector<float> start = o.c;
      const cpu::Product<float>& p = o.p;
      packed_gemm::gemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc,
                        with_bias ? o.bias.data() : nullptr);
      CHECK(check_against_plain(o, start, with_bias) <= 1.0);
    }
}

TEST_CASE("small_gemm: against the plain product, partial row blocks and vectors, beta 0, 1 and other") {
  // Row blocks of 4 (N > 32) or 8 (N <= 32) rows, vectors of 16 columns
  // with masked loads and stores at the right edge; K = 0 leaves beta C.
  // small_gemm takes B stored (K,N); A either way.
  for (int64_t N : {1, 15, 16, 17, 31, 32, 33, 64, 65})
    for (int64_t M : {1, 3, 4, 5, 8, 9, 13})
      for (int64_t K : {0, 1, 7, 33})
        for (int flags = 0; flags < 6; ++flags) {
          const bool ta = flags & 1;
          const float beta = std::array<float, 3>{0.0f, 1.0f, -1.25f}[flags / 2];
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          CAPTURE(flags);
          Operands o(ta, false, M, N, K, beta, 3, 11);
          const std::vector<float> start = o.c;
          const cpu::Product<float>& p = o.p;
          small_gemm::gemm(p.ta, p.M, p.N, p.K, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
          CHECK(check_against_plain(o, start, false) <= 1.0);
        }
}

TEST_CASE("small_gemm: every element is its k-ordered fused sum, bit for bit, whichever block computes it") {
  // Row blocks, the narrow columns' blocks (a tail of up to 4 columns, with
  // rows as the lanes) and their row groups must all give each element the
  // same arithmetic: acc = fma(a_ik, b_kj, acc) for k = 0..K-1 from zero, then
  // fma(beta, C, alpha acc). So an attention's scores do not depend on the
  // width of the product they are part of (65 position columns against 64).
  for (int64_t N : {1, 2, 3, 4, 5, 17, 65, 66, 67, 68, 69})
    for (int64_t M : {1, 15, 16, 17, 32, 33, 64, 65, 130})
      for (int64_t K : {1, 32, 128, 129})
        for (int flags = 0; flags < 4; ++flags) {
          const bool ta = flags & 1;
          const float beta = flags & 2 ? -1.25f : 0.0f;
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          CAPTURE(flags);
          Operands o(ta, false, M, N, K, beta, 3, 13);
          const std::vector<float> start = o.c;
          const cpu::Product<float>& p = o.p;
          small_gemm::gemm(p.ta, p.M, p.N, p.K, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
          int64_t wrong = 0;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              float acc = 0.0f;
              for (int64_t k = 0; k < K; ++k)
                acc = std::fma(ta ? p.a[k * p.lda + i] : p.a[i * p.lda + k], p.b[k * p.ldb + j], acc);
              float y = p.alpha * acc;
              if (beta != 0.0f) y = std::fma(beta, start[i * p.ldc + j], y);
              wrong += std::memcmp(&y, &p.c[i * p.ldc + j], sizeof y) != 0;
            }
          CHECK_MESSAGE(wrong == 0, wrong << " of " << M * N << " elements differ from the k-ordered fused sum");
        }
}

TEST_CASE("small_gemm::transpose: exactly B^T, whole 16 x 16 tiles and the edges") {
  for (int64_t N : {1, 15, 16, 17, 33, 48})
    for (int64_t K : {1, 15, 16, 17, 33, 48}) {
      const int64_t ldb = K + 2;
      const std::vector<float> b = random_floats(N * ldb, 5);
      std::vector<float> out(K * N, NAN);
      small_gemm::transpose(b.data(), ldb, N, K, out.data());
      int64_t wrong = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) wrong += out[k * N + n] != b[n * ldb + k];
      CHECK_MESSAGE(wrong == 0, wrong << " of " << N * K << " elements wrong at N = " << N << ", K = " << K);
    }
}

TEST_CASE("philox_16: AVX-512 against the plain loop, bit for bit") {
  // Block counters that carry into the high word inside the 16 blocks, and
  // that wrap at 2^64; stream and slice words and keys at their extremes.
  struct Draw {
    uint64_t base;
    uint32_t stream, slice, key0, key1;
  };
  // (A vector, not a constant array: with every argument a compile-time
  // constant, gcc 12 warns falsely about the intrinsics' own "undefined
  // register" idiom.)
  const std::vector<Draw> draws = {{0, 0, 0, 0, 0},
                                   {(1ull << 32) - 8, 3, 1, 0x01234567u, 0x89abcdefu},
                                   {~0ull - 7, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                   {0x0123456789abcdefull, 17, 4, 2024, 0}};
  for (const Draw& d : draws) {
    alignas(64) uint32_t tuned[64], plain[64];
    cpu::tuned::philox_16(d.base, d.stream, d.slice, d.key0, d.key1, tuned);
    cpu::plain::philox_16(d.base, d.stream, d.slice, d.key0, d.key1, plain);
    int wrong = 0;
    for (int i = 0; i < 64; ++i) wrong += tuned[i] != plain[i];
    CHECK_MESSAGE(wrong == 0, wrong << " of 64 words differ at base " << d.base);
  }
}

TEST_CASE("kept_bits_64: AVX-512 comparisons against the plain loop, bit for bit") {
  alignas(64) uint32_t words[64];
  cpu::plain::philox_16(12345, 2, 0, 77, 88, words);
  words[3] = 0, words[40] = 0xffffffffu;
  // Thresholds 0 (all kept), 2^32 and more (none), and ones inside the range.
  const std::vector<uint64_t> thresholds = {0, 1, 512, 0x80000000u, 0xfffffe00u, 0xffffffffu, 1ull << 32, 1ull << 40};
  for (uint64_t t : thresholds) {
    words[7] = static_cast<uint32_t>(std::min<uint64_t>(t, 0xffffffffu));  // one word exactly on it
    CHECK_MESSAGE(cpu::tuned::kept_bits_64(words, t) == cpu::plain::kept_bits_64(words, t), "threshold " << t);
  }
  CHECK(cpu::tuned::kept_bits_64(words, 0) == ~uint64_t{0});
  CHECK(cpu::tuned::kept_bits_64(words, 1ull << 32) == 0);
}

#else

TEST_CASE("cpu tuned kernels: AVX-512 only") {
  test::skip("the AVX-512 kernels against the plain loops", "this CPU has no AVX-512, so they are not compiled");
}

#endif
