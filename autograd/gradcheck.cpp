#include "autograd/gradcheck.h"

#include <cmath>
#include <cstdio>

#include "engine/backend.h"

namespace hc {

namespace {
// L = sum(W * y), without building a graph.
double weighted_sum(const Variable& y, const Tensor& w) {
  const double* ys = y.value().data<double>();
  const double* ws = w.data<double>();
  double s = 0;
  for (int64_t i = 0; i < w.numel(); ++i) s += ys[i] * ws[i];
  return s;
}
}  // namespace

GradCheckResult gradcheck(const std::function<Variable(const std::vector<Variable>&)>& f,
                          const std::vector<Variable>& inputs, uint64_t seed, double h) {
  for (const Variable& x : inputs)
    check(x.value().dtype() == DType::F64 && x.value().device() == Device::CPU,
          "gradcheck: inputs must be F64 on the CPU");
  for (const Variable& x : inputs) x.zero_grad();

  // Analytic: backward with the weighting W as the seed.
  Variable y = f(inputs);
  Tensor w = Tensor::empty(y.shape(), DType::F64);
  backend(Device::CPU).random_uniform(w, RandomKey{seed, 0});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<double>()[i] = 2 * w.data<double>()[i] - 1;
  y.backward(w);

  GradCheckResult result;
  NoGrad no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Variable& x = inputs[k];
    if (!x.requires_grad()) continue;
    check(x.grad().defined(), "gradcheck: input " + std::to_string(k) + " received no gradient");
    const double* g = x.grad().data<double>();
    double* xs = x.value().data<double>();
    double scale = 0;
    for (int64_t i = 0; i < x.numel(); ++i) scale = std::max(scale, std::fabs(g[i]));
    const double floor = std::max(1e-3 * scale, 1e-12);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double saved = xs[i];
      auto at = [&](double step) {
        xs[i] = saved + step;
        return weighted_sum(f(inputs), w);
      };
      const double near = at(h) - at(-h), far = at(2 * h) - at(-2 * h);
      xs[i] = saved;
      const double numeric = (8 * near - far) / (12 * h);
      const double err = std::fabs(g[i] - numeric) /
                         std::max({std::fabs(g[i]), std::fabs(numeric), floor});
      if (err > result.max_error || result.worst.empty()) {
        result.max_error = std::max(err, result.max_error);
        char buf[160];
        std::snprintf(buf, sizeof buf, "input %zu element %lld: analytic %.12g numeric %.12g", k,
                      static_cast<long long>(i), g[i], numeric);
        if (err >= result.max_error) result.worst = buf;
      }
    }
  }
  return result;
}

}  // namespace hc
