// Finite-difference gradient check: the test that every op's backward is
// the derivative of its forward.
//
// For f: inputs -> y and a fixed random weighting W of y, the scalar
// L = sum(W * f(x)) has dL/dx = J^T W, which backward(W) computes. The same
// derivative, estimated by central differences,
//   (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),
// has error O(eps^2) from the Taylor series plus O(u / eps) from rounding
// (u = 1.1e-16 in float64); eps = 1e-6 balances the two near 1e-10 relative.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace hc {

struct GradCheckResult {
  double max_error = 0;  // largest relative error over all checked elements
  std::string worst;     // "input 1 element 7: analytic 0.31 numeric 0.30"
};

// Inputs must be F64 CPU variables; those with requires_grad are checked.
// The relative error of an element is |a - n| / max(|a|, |n|, floor), where
// floor = 1e-3 * (largest |gradient| of that input): gradients that are
// (nearly) zero are compared against the input's scale instead of against
// themselves, where rounding noise would dominate.
GradCheckResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Variable>& inputs, uint64_t seed = 1,
                          double eps = 1e-6);

}  // namespace hc
