// Runs every op of the harness table (tests/cases_*.cpp) in grad and forward
// mode; backend mode lives with the other CUDA tests in tests/test_cuda.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/gradcheck.h"
#include "engine/backend.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using namespace hc::test;

TEST_CASE("op harness: the table is populated") {
  // Every op in autograd/ops.h has at least one case.
  const char* ops[] = {"linear", "matmul", "bmm", "add", "sub", "mul", "scale", "reshape",
                       "permute", "concat", "slice", "sum", "mean", "layernorm",
                       "masked_softmax", "cross_entropy", "embedding", "dropout", "relu", "gelu",
                       "head_scores", "add_rel_shift", "append_scores", "weighted_sum"};
  for (const char* op : ops) {
    bool found = false;
    for (const OpCase& c : op_cases()) found = found || c.name.rfind(op, 0) == 0;
    CHECK_MESSAGE(found, "no harness case for op " << std::string(op));
  }
}

TEST_CASE("op harness: grad mode (float64 finite differences)") {
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    const std::vector<Variable> xs = make_inputs(c, DType::F64, Device::CPU, true);
    const GradCheckResult r = gradcheck(c.run, xs);
    INFO(r.worst);
    CHECK(r.max_error <= c.grad_tolerance);
  }
}

TEST_CASE("op harness: forward mode (against naive loops, float64 and float32)") {
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    HostInputs host;
    for (size_t k = 0; k < c.inputs.size(); ++k)
      host.push_back(random_tensor(c.inputs[k], DType::F64, 1000 + k, c.lo, c.hi).to_vector());
    const std::vector<double> want = c.reference(host);
    NoGrad no_grad;
    // float64 differs from the loops only by summation order.
    const double err64 = max_rel_diff(c.run(make_inputs(c, DType::F64, Device::CPU, false))
                                          .value().to_vector(), want);
    CHECK(err64 <= 1e-12);
    // float32: inputs rounded to 24 bits, sums of a few hundred terms.
    const double err32 = max_rel_diff(c.run(make_inputs(c, DType::F32, Device::CPU, false))
                                          .value().to_vector(), want);
    CHECK(err32 <= 2e-5);
  }
}

namespace {
// alpha op(a) op(b) + beta c in float64 loops, from the tensors' values.
std::vector<double> naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Tensor& a,
                               const Tensor& b, double beta, const std::vector<double>& c) {
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  std::vector<double> out(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += (ta ? av[k * M + i] : av[i * K + k]) * (tb ? bv[j * K + k] : bv[k * N + j]);
      out[i * N + j] = alpha * s + beta * c[i * N + j];
    }
  return out;
}

// |t| element by element, in float64: naive_gemm of the magnitudes bounds
// the rounding error of any float32 order of the same sums (below).
Tensor magnitudes(const Tensor& t) {
  std::vector<double> v = t.to_vector();
  for (double& e : v) e = std::fabs(e);
  return Tensor::from_vector(t.shape(), v, DType::F64);
}

}  // namespace

// One float32 product C (M,N) = 0.5 op(A) op(B) + 2 C at each thread count and
// every transpose, against naive_gemm.
static void check_gemm(int64_t M, int64_t N, int64_t K, std::initializer_list<int> thread_counts, uint64_t seed) {
  for (int threads : thread_counts)
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(threads);
      CAPTURE(ta);
      CAPTURE(tb);
      const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, DType::F32, seed);
      const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, DType::F32, seed + 1);
      const Tensor c = random_tensor({M, N}, DType::F32, seed + 2);
      const std::vector<double> want = naive_gemm(ta, tb, M, N, K, 0.5, a, b, 2.0, c.to_vector());
      with_threads(threads, [&] {
        backend(Device::CPU).gemm(ta, tb, M, N, K, 0.5, {a, 0, ta ? M : K}, {b, 0, tb ? K : N}, 2.0, {c, 0, N}, 1);
      });
      CHECK(max_rel_diff(c.to_vector(), want) <= 1e-5);  // sums of up to 600 terms: ~20 ulps
    }
}

TEST_CASE("cpu gemm: a tall product split over threads equals the naive sum, every transpose") {
  // M >= 4N and M >= 64 per thread: the backend cuts C into one block of rows
  // per thread (engine/cpu_tuned/gemm.cpp, gemm_rows_split); below that size,
  // and with one thread, Eigen takes the whole product.
  check_gemm(301, 7, 33, {1, 2, 3}, 1);
}

TEST_CASE("cpu gemm: a long sum with a small result, cut into slices of K, equals the naive sum") {
  // K >= 512 and K >= 2 max(M, N): one thread sums products over slices of
  // 128 terms (engine/cpu_tuned/gemm.cpp, kKSlice); K = 600 leaves a short last
  // slice. On two threads Eigen's own threading takes it whole.
  check_gemm(7, 5, 600, {1, 2}, 11);
}

TEST_CASE("cpu gemm: large float32 products on one thread (the packed kernel) equal the naive sums") {
  // With AVX-512, single-threaded float32 products with M, N, K >= 64 go to
  // engine/cpu_tuned/packed_gemm.h (6 x 64 tiles, K in slices of 256, C in blocks of
  // 96 rows; a row-major A read in place, a transposed one packed). M = 301 leaves a last block of 13 rows
  // (two in-place panels and one packed row), N = 130 two edge columns, K =
  // 600 a short last slice. C sits in a wider buffer whose other columns must
  // stay untouched, and beta = 0 must ignore NaN in C. At 2 and 3 threads a
  // tall product (M >= 4N) is cut into row blocks, each through the same
  // kernel: every thread count must give the same bits.
  struct Size { int64_t M, N, K; };
  for (Size sz : {Size{301, 130, 600}, Size{700, 70, 65}})
    for (int flags = 0; flags < 8; ++flags) {
      const bool ta = flags & 1, tb = flags & 2, zero_beta = flags & 4;
      const int64_t M = sz.M, N = sz.N, K = sz.K, ldc = N + 5;
      CAPTURE(M);
      CAPTURE(flags);
      const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, DType::F32, 41);
      const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, DType::F32, 42);
      std::vector<double> start = random_tensor({M, ldc}, DType::F32, 43).to_vector();
      if (zero_beta)
        for (int64_t i = 0; i < M; ++i) start[i * ldc + 1] = NAN;
      std::vector<double> c_window(M * N);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) c_window[i * N + j] = zero_beta ? 0.0 : start[i * ldc + j];
      const double beta = zero_beta ? 0.0 : -1.5;
      const std::vector<double> want = naive_gemm(ta, tb, M, N, K, 0.5, a, b, beta, c_window);
      // The float32 sum of K+1 terms is within (K+2) 2^-24 of the sum of their
      // magnitudes (the classic bound for summing in any order).
      std::vector<double> c_abs = c_window;
      for (double& e : c_abs) e = std::fabs(e);
      const std::vector<double> bound =
          naive_gemm(ta, tb, M, N, K, 0.5, magnitudes(a), magnitudes(b), std::fabs(beta), c_abs);
      std::vector<std::vector<double>> results;
      for (int threads : {1, 2, 3}) {
        CAPTURE(threads);
        const Tensor c = Tensor::from_vector({M, ldc}, start, DType::F32);
        with_threads(threads, [&] {
          backend(Device::CPU).gemm(ta, tb, M, N, K, 0.5, {a, 0, ta ? M : K}, {b, 0, tb ? K : N},
                                    beta, {c, 0, ldc}, 1);
        });
        const std::vector<double> got = c.to_vector();
        double worst = 0;
        bool finite = true, outside_untouched = true;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < ldc; ++j) {
            const double g = got[i * ldc + j];
            if (j >= N) {
              outside_untouched = outside_untouched && g == static_cast<float>(start[i * ldc + j]);
              continue;
            }
            finite = finite && std::isfinite(g);
            worst = std::max(worst, std::fabs(g - want[i * N + j]) / ((K + 2) * 0x1p-24 * bound[i * N + j]));
          }
        CHECK(finite);
        CHECK(outside_untouched);
        CHECK(worst <= 1.0);
        results.push_back(got);
      }
      if (M >= 4 * N) {  // split into row blocks at 2 and 3 threads
        CHECK(results[1] == results[0]);
        CHECK(results[2] == results[0]);
      }
    }
}

TEST_CASE("cpu gemm_bias: a product plus a bias row equals the naive sums, in the packed kernel and the default") {
  // The CPU adds the bias inside the packed kernel for a row-major A on one
  // thread, or with the rows cut among threads when M >= 4N; other calls
  // (A transposed; a wide product on 2-3 threads) take the default, which
  // prefills C. Sizes leave edge tiles (N = 130, 70) and a short K slice.
  struct Size { int64_t M, N, K; };
  for (Size sz : {Size{301, 130, 300}, Size{700, 70, 65}})
    for (int flags = 0; flags < 4; ++flags)
      for (int threads : {1, 2, 3}) {
        const bool ta = flags & 1, tb = flags & 2;
        const int64_t M = sz.M, N = sz.N, K = sz.K;
        CAPTURE(M);
        CAPTURE(flags);
        CAPTURE(threads);
        const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, DType::F32, 61);
        const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, DType::F32, 62);
        const Tensor bias = random_tensor({N}, DType::F32, 63);
        Tensor c = Tensor::full({M, N}, NAN, DType::F32);  // written whole, never read
        with_threads(threads, [&] {
          backend(Device::CPU).gemm_bias({ta, tb, M, N, K, 0.5, {a, 0, ta ? M : K}, {b, 0, tb ? K : N}, 0.0, {c, 0, N}},
                                         bias);
        });
        std::vector<double> bias_rows(M * N), bias_abs(M * N);
        const std::vector<double> bv = bias.to_vector();
        for (int64_t i = 0; i < M * N; ++i) bias_rows[i] = bv[i % N], bias_abs[i] = std::fabs(bv[i % N]);
        const std::vector<double> want = naive_gemm(ta, tb, M, N, K, 0.5, a, b, 1.0, bias_rows);
        // Within (K+2) 2^-24 of the sums of magnitudes, as for the packed kernel above.
        const std::vector<double> bound = naive_gemm(ta, tb, M, N, K, 0.5, magnitudes(a), magnitudes(b), 1.0, bias_abs);
        const std::vector<double> got = c.to_vector();
        double worst = 0;
        bool finite = true;  // C's NaN must never be read
        for (int64_t i = 0; i < M * N; ++i) {
          finite = finite && std::isfinite(got[i]);
          worst = std::max(worst, std::fabs(got[i] - want[i]) / ((K + 2) * 0x1p-24 * bound[i]));
        }
        CHECK(finite);
        CHECK(worst <= 1.0);
      }
}

TEST_CASE("cpu gemm_heads: a two-level batch over column windows equals the naive sums, every transpose") {
  // Operands laid out as attention's token-major tensors: G items of rows,
  // each row holding H windows of width w. Item (h, g) of the product reads
  // window h of item g of A and B and writes its own (M, N) block of C. The
  // CPU runs all H*G float32 items in one loop (small_products), float64
  // through the default, one gemm per head.
  const int64_t H = 3, G = 4, M = 5, N = 6, K = 7, w = 8;  // w >= M, N, K: any op() fits a window
  for (DType dt : {DType::F32, DType::F64})
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(flags);
      const std::string dtype = dtype_name(dt);
      CAPTURE(dtype);
      // op(A) of item (h, g): rows of length H*w, window h; stored (M,K) or (K,M).
      const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
      const Tensor a = random_tensor({G, a_rows, H * w}, dt, 51);
      const Tensor b = random_tensor({G, b_rows, H * w}, dt, 52);
      const Tensor c = random_tensor({H, G, M, N}, dt, 53);
      const std::vector<double> av = a.to_vector(), bv = b.to_vector(), before = c.to_vector();
      backend(Device::CPU).gemm_heads({ta, tb, M, N, K, 0.5, {a, 0, H * w, a_rows * H * w}, {b, 0, H * w, b_rows * H * w},
                                       -2.0, {c, 0, N, M * N}, G},
                                      H, {w, w, G * M * N});
      const std::vector<double> got = c.to_vector();
      double worst = 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t g = 0; g < G; ++g)
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              double sum = 0;
              for (int64_t k = 0; k < K; ++k) {
                const double x = ta ? av[(g * K + k) * H * w + h * w + i] : av[(g * M + i) * H * w + h * w + k];
                const double y = tb ? bv[(g * N + j) * H * w + h * w + k] : bv[(g * K + k) * H * w + h * w + j];
                sum += x * y;
              }
              const int64_t at = ((h * G + g) * M + i) * N + j;
              const double want = 0.5 * sum - 2.0 * before[at];
              worst = std::max(worst, std::fabs(got[at] - want) / std::max(std::fabs(want), 1.0));
            }
      CHECK(worst <= 1e-5);
    }
}

TEST_CASE("cpu gemm: batched float32 products with a small B equal the naive sums, every transpose") {
  // With AVX-512 these go to engine/cpu_tuned/small_gemm.h: 4 x 64 blocks of C for
  // N > 32, 8 x 32 for N <= 32. The sizes leave partial row blocks and
  // partial vectors; C sits in a wider buffer (ldc > N, as attention's
  // windows of probs do) whose other columns must stay untouched; beta = 0
  // must ignore NaN in C.
  struct Size { int64_t M, N, K; };
  for (Size sz : {Size{13, 70, 9}, Size{19, 32, 33}, Size{9, 5, 1}, Size{4, 17, 0}})
    for (int flags = 0; flags < 8; ++flags) {
      const bool ta = flags & 1, tb = flags & 2, zero_beta = flags & 4;
      const int64_t G = 3, M = sz.M, N = sz.N, K = sz.K, ldc = N + 3;
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      CAPTURE(flags);
      const Tensor a = random_tensor(ta ? Shape{G, K, M} : Shape{G, M, K}, DType::F32, 21);
      const Tensor b = random_tensor(tb ? Shape{G, N, K} : Shape{G, K, N}, DType::F32, 22);
      Tensor c = random_tensor({G, M, ldc}, DType::F32, 23);
      if (zero_beta) {
        std::vector<double> nan_in_c = c.to_vector();
        for (int64_t i = 0; i < G * M; ++i) nan_in_c[i * ldc] = NAN;  // column 0 of C
        c = Tensor::from_vector(c.shape(), nan_in_c, DType::F32);
      }
      const std::vector<double> before = c.to_vector();
      const double alpha = 0.5, beta = zero_beta ? 0.0 : -1.25;
      backend(Device::CPU).gemm(ta, tb, M, N, K, alpha, {a, 0, ta ? M : K, M * K}, {b, 0, tb ? K : N, K * N}, beta,
                                {c, 0, ldc, M * ldc}, G);
      const std::vector<double> av = a.to_vector(), bv = b.to_vector(), got = c.to_vector();
      double worst = 0;
      bool finite = true;
      for (int64_t g = 0; g < G; ++g)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < ldc; ++j) {
            const int64_t at = (g * M + i) * ldc + j;
            double want = before[at];  // outside the window: untouched
            if (j < N) {
              double sum = 0;
              for (int64_t k = 0; k < K; ++k)
                sum += (ta ? av[(g * K + k) * M + i] : av[(g * M + i) * K + k]) *
                       (tb ? bv[(g * N + j) * K + k] : bv[(g * K + k) * N + j]);
              want = alpha * sum + (zero_beta ? 0.0 : beta * before[at]);
            }
            finite = finite && std::isfinite(got[at]);
            worst = std::max(worst, std::fabs(got[at] - want) / std::max(std::fabs(want), 1.0));
          }
      CHECK(finite);
      CHECK(worst <= 1e-5);
    }
}

TEST_CASE("cpu reduce: sums over broadcast dims equal the naive sums, bit for bit at any thread count") {
  // x viewed as (A, K, I) summed over A and I into K values: a bias gradient
  // (I = 1), a per-channel sum (I > 1), and a full sum (K = 1).
  struct View { int64_t A, K, I; };
  for (View v : {View{300, 37, 1}, View{29, 5, 11}, View{1, 1, 5000}})
    for (Reduce op : {Reduce::Sum, Reduce::SumSquares}) {
      CAPTURE(v.A);
      CAPTURE(v.K);
      CAPTURE(v.I);
      const Tensor x = random_tensor({v.A * v.K * v.I}, DType::F32, 31);
      const std::vector<double> xv = x.to_vector();
      std::vector<double> want(v.K, 0.0);
      for (int64_t a = 0; a < v.A; ++a)
        for (int64_t k = 0; k < v.K; ++k)
          for (int64_t i = 0; i < v.I; ++i) {
            const double e = xv[(a * v.K + k) * v.I + i];
            want[k] += op == Reduce::Sum ? e : e * e;
          }
      std::vector<std::vector<double>> got;
      for (int threads : {1, 2, 3}) {
        const Tensor out = Tensor::empty({v.K}, DType::F32);
        with_threads(threads, [&] { backend(Device::CPU).reduce(op, x, out, Broadcast{v.A, v.I}, false); });
        got.push_back(out.to_vector());
      }
      CHECK(max_rel_diff(got[0], want) <= 1e-6);  // summed in double, rounded once to float
      CHECK(got[1] == got[0]);
      CHECK(got[2] == got[0]);
    }
}

TEST_CASE("cpu gemm_pair: two products side by side equal the naive sums, every transpose") {
  // Unequal sizes, so the threads are shared out unevenly (3 threads: 2 + 1).
  const int64_t M1 = 45, N1 = 11, K1 = 29, M2 = 13, N2 = 19, K2 = 70;
  for (int threads : {1, 2, 3})
    for (int flags = 0; flags < 16; ++flags) {
      const bool ta1 = flags & 1, tb1 = flags & 2, ta2 = flags & 4, tb2 = flags & 8;
      CAPTURE(threads);
      CAPTURE(flags);
      const Tensor a1 = random_tensor(ta1 ? Shape{K1, M1} : Shape{M1, K1}, DType::F32, 1);
      const Tensor b1 = random_tensor(tb1 ? Shape{N1, K1} : Shape{K1, N1}, DType::F32, 2);
      const Tensor c1 = random_tensor({M1, N1}, DType::F32, 3);
      const Tensor a2 = random_tensor(ta2 ? Shape{K2, M2} : Shape{M2, K2}, DType::F32, 4);
      const Tensor b2 = random_tensor(tb2 ? Shape{N2, K2} : Shape{K2, N2}, DType::F32, 5);
      const Tensor c2 = random_tensor({M2, N2}, DType::F32, 6);
      const std::vector<double> want1 = naive_gemm(ta1, tb1, M1, N1, K1, 0.5, a1, b1, 0.0, c1.to_vector());
      const std::vector<double> want2 = naive_gemm(ta2, tb2, M2, N2, K2, -1.5, a2, b2, 1.0, c2.to_vector());
      with_threads(threads, [&] {
        backend(Device::CPU).gemm_pair(
            {ta1, tb1, M1, N1, K1, 0.5, {a1, 0, ta1 ? M1 : K1}, {b1, 0, tb1 ? K1 : N1}, 0.0, {c1, 0, N1}, 1},
            {ta2, tb2, M2, N2, K2, -1.5, {a2, 0, ta2 ? M2 : K2}, {b2, 0, tb2 ? K2 : N2}, 1.0, {c2, 0, N2}, 1});
      });
      CHECK(max_rel_diff(c1.to_vector(), want1) <= 1e-5);
      CHECK(max_rel_diff(c2.to_vector(), want2) <= 1e-5);
    }
}

TEST_CASE("cpu gemm_pair: products that touch what the other writes run in turn") {
  const int64_t M = 128, K = 96;
  const Tensor a = random_tensor({M, K}, DType::F32, 7);
  const Tensor d = random_tensor({M, M}, DType::F32, 8);
  SUBCASE("the second reads the first's output: c2 = (a a^T) d") {
    // Side by side, the second would pack c1 before the first (long: KL
    // terms per element) has written it.
    const int64_t KL = 4096;
    const Tensor along = random_tensor({M, KL}, DType::F32, 10);
    const Tensor c1 = Tensor::full({M, M}, 0.0, DType::F32), c2 = Tensor::full({M, M}, 0.0, DType::F32);
    const std::vector<double> first = naive_gemm(false, true, M, M, KL, 1.0, along, along, 0.0, c1.to_vector());
    const std::vector<double> want =
        naive_gemm(false, false, M, M, M, 1.0, Tensor::from_vector({M, M}, first, DType::F64), d, 0.0, first);
    with_threads(2, [&] {
      backend(Device::CPU).gemm_pair({false, true, M, M, KL, 1.0, {along, 0, KL}, {along, 0, KL}, 0.0, {c1, 0, M}, 1},
                                     {false, false, M, M, M, 1.0, {c1, 0, M}, {d, 0, M}, 0.0, {c2, 0, M}, 1});
    });
    // float32 sums of 4096 then 128 signed terms: 3e-4 here; c2 from a c1
    // not yet written is off by the whole of it.
    CHECK(max_rel_diff(c2.to_vector(), want) <= 1e-2);
  }
  SUBCASE("both write one tensor: the two gradients of a a^T") {
    // The second adds to what the first wrote.
    const Tensor c = random_tensor({M, M}, DType::F32, 9);
    const std::vector<double> first = naive_gemm(false, true, M, M, K, 1.0, a, a, 0.0, c.to_vector());
    const std::vector<double> want = naive_gemm(false, true, M, M, K, 2.0, a, a, 1.0, first);
    with_threads(2, [&] {
      backend(Device::CPU).gemm_pair({false, true, M, M, K, 1.0, {a, 0, K}, {a, 0, K}, 0.0, {c, 0, M}, 1},
                                     {false, true, M, M, K, 2.0, {a, 0, K}, {a, 0, K}, 1.0, {c, 0, M}, 1});
    });
    CHECK(max_rel_diff(c.to_vector(), want) <= 1e-4);  // float32 sums of 96 signed terms
  }
}
