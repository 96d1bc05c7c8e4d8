// Finite-difference gradient check: the test that every op's backward is
// the derivative of its forward.
//
// For f: inputs -> y and a fixed random weighting W of y, the scalar
// L = sum(W * f(x)) has dL/dx = J^T W, which backward(W) computes. The same
// derivative is estimated by the four-point central difference
//   (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / (12 h),
// whose Taylor error is O(h^4) (the h^2 terms of the two plain differences
// cancel) and whose rounding error is O(u |L| / h), u = 1.1e-16 in float64.
// With h = 1e-3 both are near 1e-13: small enough that even gradient entries
// a thousand times smaller than their neighbours are checked to 1e-6
// (the plain two-point difference has a 1e-10 rounding floor, which a whole
// model's tiny gradients fall below).
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
                          double h = 1e-3);

}  // namespace hc
