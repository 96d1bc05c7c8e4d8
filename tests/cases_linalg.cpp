// Harness cases: linear, matmul, bmm, add, sub, mul.
#include "tests/op_harness.h"

namespace hc::test {
namespace {

// Naive C (M,N) = op(A) op(B) for one batch item; A is (M,K) or stored (K,M).
std::vector<double> naive_matmul(const std::vector<double>& a, const std::vector<double>& b,
                                 int64_t G, int64_t M, int64_t N, int64_t K, bool ta, bool tb) {
  std::vector<double> c(G * M * N, 0.0);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double av = ta ? a[g * M * K + k * M + i] : a[g * M * K + i * K + k];
          const double bv = tb ? b[g * K * N + j * K + k] : b[g * K * N + k * N + j];
          s += av * bv;
        }
        c[g * M * N + i * N + j] = s;
      }
  return c;
}

OpCase linear_case(bool bias) {
  const int64_t R = 7, C = 5, OC = 3;
  OpCase c;
  c.name = bias ? "linear (x (7,5), w (3,5), bias)" : "linear (x (7,5), w (3,5), no bias)";
  c.inputs = {{R, C}, {OC, C}};
  if (bias) c.inputs.push_back({OC});
  c.run = [bias](const std::vector<Variable>& v) {
    return bias ? linear(v[0], v[1], v[2]) : linear(v[0], v[1]);
  };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y = naive_matmul(in[0], in[1], 1, R, OC, C, false, true);
    if (bias)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t o = 0; o < OC; ++o) y[r * OC + o] += in[2][o];
    return y;
  };
  return c;
}

// alpha != 1 only for bmm, the one product that takes a scale.
OpCase product_case(bool batched, bool ta, bool tb, double alpha = 1.0) {
  const int64_t G = batched ? 3 : 1, M = 5, N = 4, K = 7;
  OpCase c;
  c.name = std::string(batched ? "bmm" : "matmul") + (ta ? " a^T" : " a") + (tb ? " b^T" : " b") +
           (alpha != 1.0 ? " scaled" : "");
  Shape sa = ta ? Shape{K, M} : Shape{M, K};
  Shape sb = tb ? Shape{N, K} : Shape{K, N};
  if (batched) {
    sa.insert(sa.begin(), G);
    sb.insert(sb.begin(), G);
  }
  c.inputs = {sa, sb};
  c.run = [=](const std::vector<Variable>& v) {
    return batched ? bmm(v[0], v[1], ta, tb, alpha) : matmul(v[0], v[1], ta, tb);
  };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y = naive_matmul(in[0], in[1], G, M, N, K, ta, tb);
    for (double& e : y) e *= alpha;
    return y;
  };
  return c;
}

// a (shape_a) op b (shape_b) with numpy-style right-aligned broadcasting.
OpCase elementwise_case(const std::string& op, Shape sa, Shape sb) {
  OpCase c;
  c.name = op + " " + shape_str(sa) + " " + shape_str(sb);
  c.inputs = {sa, sb};
  c.run = [op](const std::vector<Variable>& v) {
    if (op == "add") return add(v[0], v[1]);
    if (op == "sub") return sub(v[0], v[1]);
    return mul(v[0], v[1]);
  };
  c.reference = [=](const HostInputs& in) {
    const int64_t n = numel_of(sa);
    const size_t shift = sa.size() - sb.size();
    std::vector<double> y(n);
    for (int64_t e = 0; e < n; ++e) {
      // Index into b: drop a's leading dims, and use 0 where b has size 1.
      int64_t rem = e, bi = 0, bstride = 1;
      for (int64_t d = static_cast<int64_t>(sa.size()) - 1; d >= 0; --d) {
        const int64_t idx = rem % sa[d];
        rem /= sa[d];
        if (d >= static_cast<int64_t>(shift)) {
          const int64_t bd = sb[d - shift];
          bi += (bd == 1 ? 0 : idx) * bstride;
          bstride *= bd;
        }
      }
      const double a = in[0][e], b = in[1][bi];
      y[e] = op == "add" ? a + b : op == "sub" ? a - b : a * b;
    }
    return y;
  };
  return c;
}

const RegisterOpCases cases({
    linear_case(true),
    linear_case(false),
    product_case(false, false, false),
    product_case(false, true, false),
    product_case(false, false, true),
    product_case(false, true, true),
    product_case(true, false, false),
    product_case(true, true, false),
    product_case(true, false, true),
    product_case(true, true, true),
    product_case(true, false, true, 0.37),
    product_case(true, true, false, -1.6),
    elementwise_case("add", {3, 5}, {3, 5}),
    elementwise_case("add", {3, 5}, {5}),
    elementwise_case("add", {2, 3, 4, 5}, {3, 1, 1}),
    elementwise_case("add", {3, 5}, {1}),
    elementwise_case("sub", {3, 5}, {3, 5}),
    elementwise_case("sub", {2, 3, 5}, {3, 5}),
    elementwise_case("mul", {3, 5}, {3, 5}),
    elementwise_case("mul", {7, 5}, {5}),
    elementwise_case("mul", {2, 3, 4, 5}, {3, 1, 1}),
    elementwise_case("mul", {3, 5}, {1}),
});

}  // namespace
}  // namespace hc::test
