// The op harness: one table of ops, run in several modes by tests/test_ops.cpp.
//
//   grad     float64 four-point central differences against backward()
//   forward  the engine (float32 and float64) against a naive loop reference
//   backend  every op on CUDA against the CPU (tests/test_cuda.cpp, when a GPU is visible)
//
// Each tests/cases_*.cpp file adds its ops to the table with a static
// RegisterOpCases object, so adding an op never touches this file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace hc::test {

using HostInputs = std::vector<std::vector<double>>;  // one flat vector per input

struct OpCase {
  std::string name;                    // "linear (R=7,C=5,OC=3)"
  std::vector<Shape> inputs;           // differentiable inputs, random values
  // Builds the op from its inputs; non-differentiable inputs (ids, targets,
  // masks) are captured by the closure and moved to the first input's device.
  std::function<Variable(const std::vector<Variable>&)> run;
  // The same forward pass written as plain loops over doubles.
  std::function<std::vector<double>(const HostInputs&)> reference;
  // Values are drawn uniformly from +-[lo, hi] (never zero: a kink at 0 or a
  // zero gradient would make the check meaningless).
  double lo = 0.25, hi = 1.5;
  double grad_tolerance = 1e-6;  // max relative error in float64
};

std::vector<OpCase>& op_cases();

struct RegisterOpCases {
  explicit RegisterOpCases(std::vector<OpCase> cases);
};

// Random tensor with values in +-[lo, hi] from the counter-based RNG.
Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo = 0.25,
                     double hi = 1.5);
// The case's inputs as Variables: random values (fixed seeds), on `device`.
std::vector<Variable> make_inputs(const OpCase& c, DType dtype, Device device, bool grad);
// Max |a - b| / max(|b|, 1): relative for large values, absolute near zero.
double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace hc::test
