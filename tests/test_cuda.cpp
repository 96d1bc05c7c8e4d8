// CUDA backend tests. They run only when a GPU is visible; otherwise the whole
// suite prints one SKIPPED line. On a machine with nvcc but no GPU (this
// project's CI) the CUDA code is still compiled, so it cannot rot unseen.
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/op_harness.h"

using namespace hc;
using namespace hc::test;

TEST_CASE("cuda backend") {
  if (!cuda_available()) {
    std::printf("SKIPPED cuda backend tests: no CUDA GPU visible%s\n",
#ifdef HEADCOUNT_HAVE_CUDA
                " (the CUDA backend was compiled)"
#else
                " (and this build has no CUDA backend: nvcc not found)"
#endif
    );
    return;
  }

  SUBCASE("copies round-trip and fill") {
    Tensor host = random_tensor({3, 5}, DType::F32, 5);
    Tensor dev = host.to(Device::CUDA);
    CHECK(dev.device() == Device::CUDA);
    CHECK(dev.to_vector() == host.to_vector());
    dev.fill_(2.5);
    for (double v : dev.to_vector()) CHECK(v == 2.5);
  }

  SUBCASE("gemm: cuBLAS against the CPU, all transposes, batched") {
    const int64_t G = 3, M = 37, N = 29, K = 41;
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(ta);
      CAPTURE(tb);
      Tensor a = random_tensor(ta ? Shape{G, K, M} : Shape{G, M, K}, DType::F32, 1);
      Tensor b = random_tensor(tb ? Shape{G, N, K} : Shape{G, K, N}, DType::F32, 2);
      Tensor c = random_tensor({G, M, N}, DType::F32, 3);
      auto run = [&](Device d) {
        Tensor ad = a.to(d), bd = b.to(d), cd = c.to(d);
        backend(d).gemm(ta, tb, M, N, K, 0.5, {ad, 0, ta ? M : K, M * K},
                        {bd, 0, tb ? K : N, K * N}, 2.0, {cd, 0, N, M * N}, G);
        return cd.to_vector();
      };
      // fp32 sums of 41 products in a different order: a few ulps.
      CHECK(max_rel_diff(run(Device::CUDA), run(Device::CPU)) <= 1e-5);
    }
  }

  SUBCASE("op harness backend mode: every op, forward and backward, CUDA against CPU") {
    for (const OpCase& c : op_cases()) {
      CAPTURE(c.name);
      auto run_on = [&](Device d) {
        std::vector<Variable> xs = make_inputs(c, DType::F32, d, true);
        Variable y = c.run(xs);
        Tensor seed = random_tensor(y.shape(), DType::F32, 77).to(d);
        std::vector<std::vector<double>> out{y.value().to_vector()};
        y.backward(seed);
        for (const Variable& x : xs) out.push_back(x.grad().to_vector());
        return out;
      };
      const auto cpu = run_on(Device::CPU), gpu = run_on(Device::CUDA);
      for (size_t k = 0; k < cpu.size(); ++k) {
        CAPTURE(k);
        CHECK(max_rel_diff(gpu[k], cpu[k]) <= 1e-5);
      }
    }
  }
}
