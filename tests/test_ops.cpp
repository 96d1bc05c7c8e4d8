// Runs every op of the harness table (tests/cases_*.cpp) in grad and forward
// mode; backend mode lives with the other CUDA tests in tests/test_cuda.cpp.
#include <doctest/doctest.h>

#include <cstdio>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/gradcheck.h"
#include "engine/backend.h"
#include "tests/op_harness.h"

using namespace hc;
using namespace hc::test;

TEST_CASE("op harness: the table is populated") {
  // Every op in autograd/ops.h has at least one case.
  const char* ops[] = {"linear", "matmul", "bmm", "add", "sub", "mul", "scale", "reshape",
                       "permute", "concat", "slice", "sum", "mean", "layernorm",
                       "masked_softmax", "cross_entropy", "embedding", "dropout", "relu", "gelu",
                       "rel_shift"};
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

TEST_CASE("cpu gemm: a tall product split over threads equals the naive sum, every transpose") {
  // M >= 4N and M >= 64 per thread: the backend cuts C into one block of rows
  // per thread (engine/cpu_backend.cpp, gemm_rows_split); below that size,
  // and with one thread, Eigen takes the whole product.
  const int64_t M = 301, N = 7, K = 33;
  for (int threads : {1, 2, 3})
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(threads);
      CAPTURE(ta);
      CAPTURE(tb);
      const Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, DType::F32, 1);
      const Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, DType::F32, 2);
      const Tensor c = random_tensor({M, N}, DType::F32, 3);
      const std::vector<double> av = a.to_vector(), bv = b.to_vector(), cv = c.to_vector();
      std::vector<double> want(M * N);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += (ta ? av[k * M + i] : av[i * K + k]) * (tb ? bv[j * K + k] : bv[k * N + j]);
          want[i * N + j] = 0.5 * s + 2.0 * cv[i * N + j];
        }
#ifdef _OPENMP
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
#endif
      backend(Device::CPU).gemm(ta, tb, M, N, K, 0.5, {a, 0, ta ? M : K}, {b, 0, tb ? K : N}, 2.0, {c, 0, N}, 1);
#ifdef _OPENMP
      omp_set_num_threads(saved);
#endif
      CHECK(max_rel_diff(c.to_vector(), want) <= 1e-5);
    }
}
