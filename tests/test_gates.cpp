// Hard-concrete gates and the L0 penalty (autograd/ops/hard_concrete.cpp).
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "engine/rng.h"

using namespace hc;

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

TEST_CASE("gates: the training open rate matches the analytic P(z = 1) = sigmoid(log_alpha)") {
  // z = 1 iff the stretched sample is >= 0.5, i.e. iff s >= (0.5 - gamma) / (zeta - gamma)
  // = 1/2, i.e. iff logistic noise + log_alpha >= 0: probability sigmoid(log_alpha).
  const std::vector<double> la{-2.0, -0.5, 0.0, 0.7, 2.0};
  Variable log_alpha(Tensor::from_vector({5}, la, DType::F64), true, "gate");
  const int draws = 20000;
  std::vector<int> open(5, 0);
  int not_binary = 0;
  NoGrad no_grad;
  for (int d = 0; d < draws; ++d) {
    const std::vector<double> z = hard_concrete_gate(log_alpha, RandomKey{11, static_cast<uint64_t>(d) * 2}, true).value().to_vector();
    for (int h = 0; h < 5; ++h) {
      not_binary += !(z[h] == 0.0 || z[h] == 1.0);
      open[h] += z[h] == 1.0;
    }
  }
  CHECK(not_binary == 0);
  for (int h = 0; h < 5; ++h) {
    CAPTURE(la[h]);
    const double p = sigmoid(la[h]), rate = double(open[h]) / draws;
    CHECK(std::fabs(rate - p) < 4 * std::sqrt(p * (1 - p) / draws));
  }
}

TEST_CASE("gates: evaluation is deterministic, z = 1 iff log_alpha >= 0") {
  Variable log_alpha(Tensor::from_vector({4}, {-0.3, 0.0, 0.4, -5.0}, DType::F64), true, "gate");
  const Variable z = hard_concrete_gate(log_alpha, RandomKey{}, false);
  CHECK(z.value().to_vector() == std::vector<double>{0, 1, 1, 0});
  CHECK_FALSE(z.requires_grad());
}

TEST_CASE("gates: the straight-through gradient is the derivative of the soft sample") {
  const std::vector<double> la{-1.0, 0.3, 1.5};
  Variable log_alpha(Tensor::from_vector({3}, la, DType::F64), true, "gate");
  const RandomKey key{5, 40};
  hard_concrete_gate(log_alpha, key, true).backward(Tensor::full({3}, 1.0, DType::F64));
  const std::vector<double> g = log_alpha.grad().to_vector();
  const HardConcrete hc;
  for (int h = 0; h < 3; ++h) {
    // The soft sample with the same noise, differentiated by central differences.
    const double u = std::clamp<double>(philox::uniform(philox::bits(key.seed, key.offset, h)), 1e-6, 1 - 1e-6);
    auto soft = [&](double a) {
      const double s = sigmoid((std::log(u) - std::log(1 - u) + a) / hc.beta);
      return std::clamp(s * (hc.zeta - hc.gamma) + hc.gamma, 1e-6, 1.0);
    };
    const double eps = 1e-6, numeric = (soft(la[h] + eps) - soft(la[h] - eps)) / (2 * eps);
    CAPTURE(h);
    CHECK(g[h] == doctest::Approx(numeric).epsilon(1e-6));
  }
}

TEST_CASE("gates: the L0 penalty is the expected open count; its gradient matches finite differences") {
  Variable log_alpha(Tensor::from_vector({4}, {-1.2, 0.1, 2.0, 0.8}, DType::F64), true, "gate");
  const HardConcrete hc;
  double expected = 0;
  for (double a : log_alpha.value().to_vector()) expected += sigmoid(a - hc.beta * std::log(-hc.gamma / hc.zeta));
  CHECK(l0_penalty(log_alpha).value().item() == doctest::Approx(expected).epsilon(1e-12));
  // At the paper's initialisation, log_alpha = 2: 0.943 per gate (spec section 3).
  Variable init(Tensor::full({8}, 2.0, DType::F64), true, "init");
  CHECK(l0_penalty(init).value().item() / 8 == doctest::Approx(0.943).epsilon(1e-3));
  const GradCheckResult r = gradcheck([](const std::vector<Variable>& v) { return l0_penalty(v[0]); }, {log_alpha});
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
}

TEST_CASE("gates: the expected layer cost sums g(k) over the open count's distribution; gradient by finite differences") {
  Variable log_alpha(Tensor::from_vector({4}, {-1.2, 0.1, 2.0, 0.8}, DType::F64), true, "gate");
  const std::vector<double> p = open_probability(log_alpha.value());
  // A cost that is no line in k: 3 heads cost what 4 do.
  const std::vector<double> g{0.0, 1.0, 1.5, 2.5, 2.5};
  double brute = 0;  // every one of the 16 open sets
  for (int set = 0; set < 16; ++set) {
    double prob = 1;
    int k = 0;
    for (int h = 0; h < 4; ++h) {
      const bool open = (set >> h) & 1;
      prob *= open ? p[size_t(h)] : 1 - p[size_t(h)];
      k += open;
    }
    brute += prob * g[size_t(k)];
  }
  CHECK(expected_layer_cost(log_alpha, g).value().item() == doctest::Approx(brute).epsilon(1e-12));
  // g(k) = k: the expected open count, l0_penalty.
  CHECK(expected_layer_cost(log_alpha, {0, 1, 2, 3, 4}).value().item() ==
        doctest::Approx(l0_penalty(log_alpha).value().item()).epsilon(1e-12));
  const GradCheckResult r =
      gradcheck([&g](const std::vector<Variable>& v) { return expected_layer_cost(v[0], g); }, {log_alpha});
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
  CHECK_THROWS_AS(expected_layer_cost(log_alpha, {0, 1, 2}), std::invalid_argument);
}
