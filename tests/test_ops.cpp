// Runs every op of the harness table (tests/cases_*.cpp) in grad and forward
// mode; backend mode lives with the other CUDA tests in tests/test_cuda.cpp.
#include <doctest/doctest.h>

#include <cstdio>

#include "autograd/gradcheck.h"
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
