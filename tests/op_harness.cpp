#include "tests/op_harness.h"

#include <cmath>

namespace hc::test {

std::vector<OpCase>& op_cases() {
  static std::vector<OpCase> cases;
  return cases;
}

RegisterOpCases::RegisterOpCases(std::vector<OpCase> cases) {
  for (auto& c : cases) op_cases().push_back(std::move(c));
}

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double lo, double hi) {
  Tensor u = Tensor::empty(shape, DType::F64);
  backend(Device::CPU).random_uniform(u, RandomKey{seed, 0});
  std::vector<double> v = u.to_vector();
  for (size_t i = 0; i < v.size(); ++i) {
    // First half of (0,1) -> negative, second half -> positive; magnitude in [lo, hi].
    const double t = v[i] < 0.5 ? v[i] * 2 : (v[i] - 0.5) * 2;
    const double mag = lo + (hi - lo) * t;
    v[i] = v[i] < 0.5 ? -mag : mag;
  }
  return Tensor::from_vector(shape, v, dtype);
}

std::vector<Variable> make_inputs(const OpCase& c, DType dtype, Device device, bool grad) {
  std::vector<Variable> xs;
  for (size_t k = 0; k < c.inputs.size(); ++k)
    xs.emplace_back(random_tensor(c.inputs[k], dtype, 1000 + k, c.lo, c.hi).to(device), grad);
  return xs;
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(std::fabs(b[i]), 1.0));
  return worst;
}

}  // namespace hc::test
