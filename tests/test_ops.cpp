// Runs every op of the harness table (tests/cases_*.cpp) in each mode.
#include <doctest/doctest.h>

#include <cstdio>

#include "autograd/gradcheck.h"
#include "tests/op_harness.h"

using namespace hc;
using namespace hc::test;

namespace {

std::vector<Variable> make_inputs(const OpCase& c, DType dtype, Device device, bool grad) {
  std::vector<Variable> xs;
  for (size_t k = 0; k < c.inputs.size(); ++k)
    xs.emplace_back(random_tensor(c.inputs[k], dtype, 1000 + k, c.lo, c.hi).to(device), grad);
  return xs;
}

}  // namespace

TEST_CASE("op harness: the table is populated") {
  // Every op in autograd/ops.h has at least one case.
  const char* ops[] = {"linear", "matmul", "bmm", "add", "sub", "mul", "scale", "reshape",
                       "permute", "concat", "slice", "sum", "mean", "layernorm",
                       "masked_softmax", "cross_entropy", "embedding", "dropout", "relu", "gelu"};
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

TEST_CASE("op harness: backend mode (CUDA against CPU)") {
  if (!cuda_available()) {
    std::printf("SKIPPED op harness backend mode: no CUDA GPU visible\n");
    return;
  }
  for (const OpCase& c : op_cases()) {
    CAPTURE(c.name);
    // Forward values and every input gradient, float32 on both devices.
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
